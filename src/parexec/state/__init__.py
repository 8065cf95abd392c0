"""Where state lives: the read-only StateView protocol, an in-memory store, block overlays, state roots."""

from parexec.state.view import StateView
from parexec.state.memory import MemoryState
from parexec.state.overlay import OverlayState

__all__ = ["StateView", "MemoryState", "OverlayState"]

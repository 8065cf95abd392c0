"""Counts in messages: "1 block", "3,875 blocks"."""


def counted(count: int, noun: str) -> str:
    """``count`` (thousands separated) and ``noun``, plural unless one."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"

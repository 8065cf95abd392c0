"""Many blocks on many machines: replay.py (parexec replay, here or on Ray)."""

"""Machinery shared by the parallel strategies: worker pool, multi-version memory, in-order commit."""

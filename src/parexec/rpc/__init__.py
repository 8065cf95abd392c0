"""Blocks from a node: a JSON-RPC client (client.py), the prestate tracer's answers
merged into a pre-state (prestate.py), and `parexec fetch` (fetch.py)."""

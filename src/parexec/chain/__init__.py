"""A persistent chain: blocks imported in sequence onto a state store."""

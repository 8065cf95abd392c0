"""Tables and drawings of results."""

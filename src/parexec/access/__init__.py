"""What transactions touch: footprints, declared or observed, and block access lists."""

"""Mutation testing of the core rules (``make mutation``): pytest shim and score report."""

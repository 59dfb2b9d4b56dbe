"""Mininet topologies for the op25b lab."""

"""Temporal workflows: one module per process, plus the deadline-bound step they all use."""

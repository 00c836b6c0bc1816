"""Load and precision benchmarks that print figures (see README.md)."""

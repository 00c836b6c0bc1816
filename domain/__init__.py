"""Pure, deterministic domain code: safe to import inside workflows (no I/O)."""

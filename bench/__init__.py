"""Benchmarks, soak and restart scripts; run each with `python -m bench.<name>` from the
repository root (docs/benchmarks.md, docs/operations.md)."""

"""The soak: a replayed year of nights through the live scheduler, with seeded faults and the
invariants that must hold after them (``python -m benchmarks.soak``, docs/soak.md)."""

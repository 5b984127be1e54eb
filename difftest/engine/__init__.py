"""Deterministic execution of modelled kernel threads: points, locks, executor."""

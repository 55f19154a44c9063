"""Benchmarks: load scenarios against the assembled service; they write reports and assert nothing."""

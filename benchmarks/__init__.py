"""Benchmarks behind `tickplant bench ...`; results are summarised in BENCHMARKS.md."""

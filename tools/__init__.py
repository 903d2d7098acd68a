"""Tooling around the service (benchmarks, demo data, fuzzing, server processes); not installed."""

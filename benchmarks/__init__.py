"""Benchmarks of the V1 pipeline: ``python -m benchmarks`` (``make bench``) writes the benchmark table."""

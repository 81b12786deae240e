"""Benchmarks behind ``fluvial bench``: each runs fluvial and a plain-Python baseline on the same
input in one command and reports the ratio (see docs/performance.md)."""

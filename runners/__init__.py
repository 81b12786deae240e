"""Runners: direct (built in), flink and beam (extras). Loaded by name through fluvial.registry."""

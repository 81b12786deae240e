"""Runners: direct (built in) and beam (the beam extra). Loaded by name through fluvial.registry."""

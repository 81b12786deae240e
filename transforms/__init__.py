"""Composite transforms and IO built from fluvial primitives."""

"""Operators of the direct runner."""

"""Mirrors src/ulpt/."""

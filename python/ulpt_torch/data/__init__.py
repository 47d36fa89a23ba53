"""Mirrors src/data/."""

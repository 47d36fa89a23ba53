"""Mirrors src/io/."""

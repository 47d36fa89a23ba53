"""Mirrors src/models/."""

"""Mirrors src/train/."""

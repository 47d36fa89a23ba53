"""The PyTorch engine of ULPT Studio: trains the job the built-in engine prepared, into the same run folder.

Mirrors src/ (TypeScript) room by room; each module's first line names the file it mirrors.
"""

__version__ = "0.1.0"

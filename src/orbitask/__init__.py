"""Orbitask: self-hostable, multi-region task management."""

__version__ = "0.1.0"

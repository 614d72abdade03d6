"""Peelian: an open police data hub."""

__version__ = "0.1.0"

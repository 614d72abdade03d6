"""Standardisers: plain functions that clean and validate police identifiers and fields."""

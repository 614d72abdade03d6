"""The synthetic police force: `peelian generate`."""

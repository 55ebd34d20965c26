"""Whole jobs built from the library: the demo, the reference table, artist20, the demo corpus."""

"""Measurements: pure functions returning frozen records in raw units (MACs, bytes, seconds)."""

"""Lowering rules for indexed ops (filled in below)."""

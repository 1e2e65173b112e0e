"""Lowering rules for shapes and views (filled in below)."""

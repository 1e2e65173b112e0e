"""Printing and inspection of graphs."""

__all__: list[str] = []

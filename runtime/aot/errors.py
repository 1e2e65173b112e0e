"""The error of ``theanine.aot``."""

from __future__ import annotations

__all__ = ["AOTError"]


class AOTError(ValueError):
    """A function that cannot become a native library, or a library that could not be built."""

"""Ahead-of-time compilation: a function as a native shared library with a C header (``compile``)."""

from theanine.runtime.aot.compile import Library, compile
from theanine.runtime.aot.errors import AOTError

__all__ = ["compile", "AOTError", "Library"]

"""Where CPython and NumPy keep the fields the compiled code reads.

Native entry points receive the tuple of buffer arrays itself, and read
each ndarray's data pointer, dimensions and strides straight from its
struct (NumPy's public ``PyArrayObject_fields``), so a call needs no
per-array conversions in Python.  These are the offsets for 64-bit
CPython 3.11+ with NumPy 2; ``theanine.runtime.llvm_jit`` checks them
against the running interpreter before any compiled code runs.
"""

TUPLE_ITEMS = 24
ARRAY_DATA = 16
ARRAY_DIMENSIONS = 32
ARRAY_STRIDES = 40

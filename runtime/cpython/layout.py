"""Every assumption theanine makes about CPython's and NumPy's binary layout, verified at start-up.

Native code reads Python objects directly in two places: a segment's
buffer table (``codegen.llvm.buffer_table``) can be the runner's tuple of
ndarrays itself, and the fast call path (``fast_call_ir``) checks and
allocates ndarrays without leaving native code.  Both rest on the struct
offsets and the NumPy C-API slots below, which hold for 64-bit CPython
3.11 with NumPy 2 (the only interpreter these machines install).
``mismatch()`` probes the running interpreter through ``ctypes`` and
NumPy's own C-API and names the first fact that does not hold; the
runtime then takes the portable path (a ctypes-built buffer table, no
fast call) and says so once, instead of crashing.
"""

from __future__ import annotations

import ctypes
import functools
import logging

import numpy as np

from theanine.codegen.llvm import buffer_table

log = logging.getLogger(__name__)

OBJECT_TYPE = 8
TUPLE_ITEMS = 24
ARRAY_DATA = 16
ARRAY_NDIM = 24
ARRAY_DIMENSIONS = 32
ARRAY_STRIDES = 40
ARRAY_DESCR = 56
ARRAY_FLAGS = 64
ARRAY_C_CONTIGUOUS_FLAG = 0x1
ARRAY_ALIGNED_FLAG = 0x100
NUMPY_ABI_VERSION = 0x02000000  # NumPy 2.x; C-API slots are append-only within it
API_NDARRAY_TYPE = 2
API_ARRAY_EMPTY = 184
API_TABLE_SIZE = 400


def _word(address: int) -> int | None:
    return ctypes.c_void_p.from_address(address).value


def _c_api_table():
    from numpy._core import _multiarray_umath

    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return (ctypes.c_void_p * API_TABLE_SIZE).from_address(get_pointer(_multiarray_umath._ARRAY_API, None))


def _c_abi_version() -> int:
    from numpy._core import _multiarray_umath

    return _multiarray_umath._get_ndarray_c_version()


def array_empty_address() -> int:
    """NumPy's ``PyArray_Empty`` from its C-API table."""
    return _c_api_table()[API_ARRAY_EMPTY]


def _array_empty_works() -> bool:
    """Call the ``PyArray_Empty`` slot through ctypes and check what it returns."""
    signature = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.py_object,
                                  ctypes.c_int)
    dims = (ctypes.c_int64 * 2)(3, 5)
    descr = np.dtype(np.float32)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(descr))  # PyArray_Empty steals a reference to descr
    made = signature(array_empty_address())(2, dims, descr, 0)
    return type(made) is np.ndarray and made.shape == (3, 5) and made.dtype == descr and made.flags.c_contiguous


def _probes() -> list[tuple[str, object]]:
    """(fact, check) pairs; a check returns True when the fact holds here."""
    probe = np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2]
    unaligned = np.frombuffer(bytearray(17), dtype=np.uint8)[1:].view(np.int64)
    holder = (probe, unaligned)
    array = _word(id(holder) + TUPLE_ITEMS)

    def read(address: int, count: int) -> tuple:
        return tuple((ctypes.c_int64 * count).from_address(address))

    return [
        ("object header", lambda: object.__basicsize__ == ARRAY_DATA and np.ndarray.__basicsize__ >= ARRAY_FLAGS + 4),
        ("tuple items", lambda: tuple.__basicsize__ == TUPLE_ITEMS and array == id(probe)
            and _word(id(holder) + TUPLE_ITEMS + 8) == id(unaligned)),
        ("object type", lambda: _word(id(probe) + OBJECT_TYPE) == id(np.ndarray)),
        ("ndarray data", lambda: _word(array + ARRAY_DATA) == probe.ctypes.data),
        ("ndarray ndim", lambda: ctypes.c_int.from_address(array + ARRAY_NDIM).value == probe.ndim),
        ("ndarray dimensions", lambda: read(_word(array + ARRAY_DIMENSIONS), 2) == probe.shape),
        ("ndarray strides", lambda: read(_word(array + ARRAY_STRIDES), 2) == probe.strides),
        ("ndarray descr", lambda: _word(array + ARRAY_DESCR) == id(probe.dtype)),
        ("ndarray aligned flag", lambda: bool(ctypes.c_int.from_address(array + ARRAY_FLAGS).value
                                               & ARRAY_ALIGNED_FLAG)
            and not ctypes.c_int.from_address(id(unaligned) + ARRAY_FLAGS).value & ARRAY_ALIGNED_FLAG),
        ("ndarray C-contiguous flag", lambda: not ctypes.c_int.from_address(array + ARRAY_FLAGS).value
            & ARRAY_C_CONTIGUOUS_FLAG and bool(ctypes.c_int.from_address(id(unaligned) + ARRAY_FLAGS).value
                                               & ARRAY_C_CONTIGUOUS_FLAG)),
        ("NumPy C ABI version", lambda: _c_abi_version() == NUMPY_ABI_VERSION),
        ("C-API ndarray type slot", lambda: _c_api_table()[API_NDARRAY_TYPE] == id(np.ndarray)),
        ("C-API PyArray_Empty slot", _array_empty_works),
    ]


@functools.cache
def mismatch() -> str | None:
    """The first layout fact that does not hold in this interpreter, or None when all hold.

    The probes only read memory of objects they made (and call the C-API
    slot once after the ndarray type slot checked out).
    """
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return "pointer size is not 8 bytes"
    for fact, check in _probes():
        if not check():
            return fact
    return None


@functools.cache
def tuple_is_buffer_table() -> bool:
    """Whether a tuple of ndarrays can be passed as a segment's buffer table unconverted."""
    same_offsets = (TUPLE_ITEMS, ARRAY_DATA, ARRAY_DIMENSIONS, ARRAY_STRIDES) == (
        buffer_table.ITEMS, buffer_table.DATA, buffer_table.DIMS, buffer_table.STRIDES)
    reason = mismatch() or (None if same_offsets else "buffer table offsets")
    if reason is not None:
        log.warning("theanine: this Python/NumPy build lays out objects differently from what native code "
                    "reads (%s); using the portable call path (slower calls, same results)", reason)
    return reason is None

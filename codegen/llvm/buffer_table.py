"""The argument of every native segment: a table of buffer records (theanine's own ABI).

    i32 segment_k(i8* table, i64 thread, i64 threads, i64* barrier)

``table + ITEMS`` holds one pointer per buffer of the program; each points
at a record with the data pointer at ``DATA`` and pointers to the int64
dims at ``DIMS`` and to the int64 byte strides at ``STRIDES``.

The offsets are chosen to coincide with a CPython tuple of NumPy ndarrays,
so the runtime can pass its tuple of buffer arrays unconverted, but only
after ``theanine.runtime.cpython.layout`` has verified that the running
interpreter lays them out this way.  Otherwise ``pack`` builds the table
with ctypes (the portable call path), and compiled code reads the same
offsets from that.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

ITEMS = 24
DATA = 16
DIMS = 32
STRIDES = 40
_RECORD_WORDS = 6
_POINTER = ctypes.sizeof(ctypes.c_void_p)


def pack(arrays: Sequence[np.ndarray]) -> tuple[int, object]:
    """A table for ``arrays`` built with ctypes: its address, and the object that keeps it alive."""
    count = len(arrays)
    table = (ctypes.c_void_p * (ITEMS // _POINTER + count))()
    records = (ctypes.c_void_p * (_RECORD_WORDS * count))()
    shapes = [np.array(a.shape + (0,), dtype=np.int64) for a in arrays]
    strides = [np.array(a.strides + (0,), dtype=np.int64) for a in arrays]
    base = ctypes.addressof(records)
    for k, array in enumerate(arrays):
        word = _RECORD_WORDS * k
        records[word + DATA // _POINTER] = array.ctypes.data
        records[word + DIMS // _POINTER] = shapes[k].ctypes.data
        records[word + STRIDES // _POINTER] = strides[k].ctypes.data
        table[ITEMS // _POINTER + k] = base + word * _POINTER
    return ctypes.addressof(table), (table, records, shapes, strides, arrays)

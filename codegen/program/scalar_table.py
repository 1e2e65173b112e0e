"""What every printer's scalar op table shares: NumPy's typing rules and the table itself.

A printer registers one emitter per ScalarOp name with the dtype kinds its
loop dtype may have ("f" float, "i" int, "b" bool).  Which dtypes an op
runs in (NumPy's loop dtype), which ops keep their arguments' own dtypes,
the ops with one fixed signature and the reductions are the same for
every printer, so ``supports`` differs between printers only by their
emitters (the emitter-coverage test compares them on that alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.ops.random import STATE_WORDS
from theanine.graph.type import is_float

REDUCE_KINDS = ("add", "mul", "max", "min", "and", "or")

UNCONVERTED = ("where", "second", "logical_and", "logical_or", "logical_xor", "logical_not",
               "philox_word", "philox_counter")
"""Ops whose arguments keep their own dtypes (no conversion to the loop dtype)."""

SIGNATURES = {
    "philox_word": (("uint32",) * STATE_WORDS + ("uint64", "uint64"), "uint32"),
    "philox_counter": (("uint32",) * 4 + ("uint64", "uint64"), "uint32"),
    "mulhi": (("uint64", "uint64"), "uint64"),
}
"""Ops defined for exactly one signature (in dtypes, out dtype)."""


def loop_dtype(name: str, in_dtypes: Sequence[str], out_dtype: str) -> str:
    """NumPy's loop dtype: the inputs' common dtype for comparisons, else the output's."""
    if out_dtype == "bool" and in_dtypes and name not in ("logical_and", "logical_or", "logical_xor", "logical_not"):
        return np.result_type(*in_dtypes).name
    return out_dtype


def dtype_kind(dtype: str) -> str:
    return "b" if dtype == "bool" else "f" if is_float(dtype) else "i"


class ScalarTable:
    """One printer's emitters by ScalarOp name, with the dtype kinds each accepts."""

    def __init__(self):
        self._entries: dict[str, tuple[Callable, str]] = {}

    def register(self, name: str, kinds: str):
        """Decorator: ``fn`` emits op ``name`` for loop dtypes of ``kinds``."""

        def wrap(fn: Callable) -> Callable:
            self._entries[name] = (fn, kinds)
            return fn

        return wrap

    def emitter(self, name: str) -> Callable:
        return self._entries[name][0]

    def supports(self, name: str, in_dtypes: Sequence[str], out_dtype: str) -> bool:
        """True when the printer can compile scalar op ``name`` for these dtypes."""
        if name.startswith("cast_"):
            return True
        if name.startswith("reduce_"):
            return name[7:] in REDUCE_KINDS
        if name == "gemm":
            return out_dtype in ("float32", "float64") and all(d == out_dtype for d in in_dtypes)
        if name in SIGNATURES:
            return (tuple(in_dtypes), out_dtype) == SIGNATURES[name]
        if name not in self._entries:
            return False
        return dtype_kind(loop_dtype(name, in_dtypes, out_dtype)) in self._entries[name][1]

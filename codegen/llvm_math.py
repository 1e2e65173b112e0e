"""Math functions for the LLVM printer, as vectorizable straight-line IR.

``emit(builder, name, args, dtype)`` returns ``name(*args)`` in ``dtype``'s
compute type (float for float16/float32, double for float64).  No function
calls the C math library: each is emitted inline from the kernels of the
``llvm_math_*`` modules (argument reduction, polynomial, reconstruction,
special values by ``select``), so LLVM's loop vectorizer widens the loop
around it to the host's vector width.  ``sqrt`` stays the ``llvm.sqrt``
intrinsic, which is one vector instruction.

Float32 functions marked ``_IN_DOUBLE`` are computed in double precision
and rounded once (error <= 0.5 ulp + 2^-29); the others have native float32
kernels with their own coefficients.  Accuracy (max ulp against NumPy over
dense sweeps) is checked by tests/codegen/test_llvm_math.py and printed by
tests/benchmarks/bench_math.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from llvmlite import ir

from theanine.codegen import (
    llvm_math_arc,
    llvm_math_erf,
    llvm_math_exp,
    llvm_math_log,
    llvm_math_pow,
    llvm_math_trig,
)
from theanine.codegen.llvm_math_builder import MathBuilder, call_intrinsic
from theanine.codegen.llvm_types import F32, F64

__all__ = ["UNARY_FUNCTIONS", "call_intrinsic", "emit", "emit_guarded", "has_guarded_form"]

UNARY_FUNCTIONS = (
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "sigmoid",
    "softplus",
    "erf",
    "erfc",
)

_KERNELS: dict[str, Callable] = {
    "exp": llvm_math_exp.exp,
    "exp2": llvm_math_exp.exp2,
    "expm1": llvm_math_exp.expm1,
    "sinh": llvm_math_exp.sinh,
    "cosh": llvm_math_exp.cosh,
    "tanh": llvm_math_exp.tanh,
    "sigmoid": llvm_math_exp.sigmoid,
    "log": llvm_math_log.log,
    "log2": llvm_math_log.log2,
    "log10": llvm_math_log.log10,
    "log1p": llvm_math_log.log1p,
    "arcsinh": llvm_math_log.arcsinh,
    "arccosh": llvm_math_log.arccosh,
    "arctanh": llvm_math_log.arctanh,
    "softplus": llvm_math_pow.softplus,
    "pow": llvm_math_pow.power,
    "sin": llvm_math_trig.sin,
    "cos": llvm_math_trig.cos,
    "tan": llvm_math_trig.tan,
    "arcsin": llvm_math_arc.arcsin,
    "arccos": llvm_math_arc.arccos,
    "arctan": llvm_math_arc.arctan,
    "arctan2": llvm_math_arc.arctan2,
    "erf": llvm_math_erf.erf,
    "erfc": llvm_math_erf.erfc,
}
# float32 kernels that run on arguments widened to double
_IN_DOUBLE: dict[str, Callable] = {
    "sin": functools.partial(llvm_math_trig.sin, single=True),
    "cos": functools.partial(llvm_math_trig.cos, single=True),
    "tan": functools.partial(llvm_math_trig.tan, single=True),
    "erf": llvm_math_erf.erf,
    "erfc": llvm_math_erf.erfc,
    "pow": llvm_math_pow.power_of_widened_single,
}

# float32 functions with a cheaper kernel on part of the domain: it returns (value, outside), and
# the printer recomputes with ``emit`` wherever ``outside`` is true (see llvm_math_trig)
_GUARDED_SINGLE: dict[str, Callable] = {
    "sin": llvm_math_trig.guarded(llvm_math_trig.sin),
    "cos": llvm_math_trig.guarded(llvm_math_trig.cos),
    "tan": llvm_math_trig.guarded(llvm_math_trig.tan),
}


def has_guarded_form(name: str, dtype: str) -> bool:
    """True when ``name`` on ``dtype`` has a fast kernel that ``emit_guarded`` emits."""
    return dtype == "float32" and name in _GUARDED_SINGLE


def emit_guarded(builder: ir.IRBuilder, name: str, args: list[ir.Value]) -> tuple[ir.Value, ir.Value]:
    """(fast ``name(*args)``, i1 true where that value is not to be used) for float32 args."""
    return _GUARDED_SINGLE[name](MathBuilder(builder, F32), *args)


def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], dtype: str) -> ir.Value:
    """``name(*args)`` for float compute values (float32 or float64)."""
    if name == "sqrt":
        return call_intrinsic(builder, "llvm.sqrt", *args)
    if name not in _KERNELS:
        raise KeyError(
            f"no LLVM implementation of math function {name!r}; expected one of {sorted(_KERNELS)}"
        )
    if args[0].type == F32 and name in _IN_DOUBLE:
        wide = MathBuilder(builder, F64)
        return wide.narrow(_IN_DOUBLE[name](wide, *[wide.widen(a) for a in args]))
    return _KERNELS[name](MathBuilder(builder, args[0].type), *args)

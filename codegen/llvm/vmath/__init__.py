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

from theanine.codegen.llvm.vmath import arc
from theanine.codegen.llvm.vmath import erf
from theanine.codegen.llvm.vmath import exp
from theanine.codegen.llvm.vmath import log
from theanine.codegen.llvm.vmath import pow
from theanine.codegen.llvm.vmath import trig
from theanine.codegen.llvm.vmath.builder import MathBuilder, call_intrinsic
from theanine.codegen.llvm.ir_types import F32, F64

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
    "exp": exp.exp,
    "exp2": exp.exp2,
    "expm1": exp.expm1,
    "sinh": exp.sinh,
    "cosh": exp.cosh,
    "tanh": exp.tanh,
    "sigmoid": exp.sigmoid,
    "log": log.log,
    "log2": log.log2,
    "log10": log.log10,
    "log1p": log.log1p,
    "arcsinh": log.arcsinh,
    "arccosh": log.arccosh,
    "arctanh": log.arctanh,
    "softplus": pow.softplus,
    "pow": pow.power,
    "sin": trig.sin,
    "cos": trig.cos,
    "tan": trig.tan,
    "arcsin": arc.arcsin,
    "arccos": arc.arccos,
    "arctan": arc.arctan,
    "arctan2": arc.arctan2,
    "erf": erf.erf,
    "erfc": erf.erfc,
}
# float32 kernels that run on arguments widened to double
_IN_DOUBLE: dict[str, Callable] = {
    "sin": functools.partial(trig.sin, single=True),
    "cos": functools.partial(trig.cos, single=True),
    "tan": functools.partial(trig.tan, single=True),
    "erf": erf.erf,
    "erfc": erf.erfc,
    "pow": pow.power_of_widened_single,
}

# float32 functions with a cheaper kernel on part of the domain: it returns (value, outside), and
# the printer recomputes with ``emit`` wherever ``outside`` is true (see llvm_math_trig)
_GUARDED_SINGLE: dict[str, Callable] = {
    "sin": trig.guarded(trig.sin),
    "cos": trig.guarded(trig.cos),
    "tan": trig.guarded(trig.tan),
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

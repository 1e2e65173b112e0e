"""ONNX forms of the elementwise ops (graph/ops/math.py's table), one row per scalar op.

Inputs reach the row already brought to a common dtype: the output's for
arithmetic (NumPy computes in it), the promoted input dtype for comparisons
and ``where``'s branches.  Where ONNX has no single op the row composes
several, with NumPy's meaning:

- ``floor_divide`` / ``mod`` of integers use ONNX ``Mod`` (fmod=0 takes the
  divisor's sign, as NumPy); of floats ``a - floor(a / b) * b``.
- ``arctan2`` is ``atan(y / x)`` moved by +-pi in the left half-plane.
- ``clip`` is ``min(max(x, lo), hi)`` (its bounds may be arrays).
- ``second(a, b)`` is ``b`` expanded to the shape of both.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.codegen.onnx.builder import Builder

SIMPLE = {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "true_divide": "Div", "power": "Pow",
    "negative": "Neg", "abs": "Abs", "sign": "Sign", "sqrt": "Sqrt", "exp": "Exp", "log": "Log",
    "sin": "Sin", "cos": "Cos", "tan": "Tan", "arcsin": "Asin", "arccos": "Acos", "arctan": "Atan",
    "sinh": "Sinh", "cosh": "Cosh", "tanh": "Tanh", "arcsinh": "Asinh", "arccosh": "Acosh",
    "arctanh": "Atanh", "sigmoid": "Sigmoid", "relu": "Relu", "erf": "Erf",
    "floor": "Floor", "ceil": "Ceil", "round": "Round", "maximum": "Max", "minimum": "Min",
    "equal": "Equal", "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
    "greater_equal": "GreaterOrEqual", "isnan": "IsNaN", "isinf": "IsInf", "logical_and": "And",
    "logical_or": "Or", "logical_xor": "Xor", "logical_not": "Not",
}
# comparisons compute in the inputs' promoted dtype; their output is bool
COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "isnan", "isinf"}
LOGICAL = {"logical_and", "logical_or", "logical_xor", "logical_not"}
BITWISE = {"bitwise_and": ("BitwiseAnd", "And"), "bitwise_or": ("BitwiseOr", "Or"),
           "bitwise_xor": ("BitwiseXor", "Xor")}


def _c(b: Builder, value, dtype: str) -> str:
    return b.const(np.asarray(value, dtype=dtype))


def _safe_integer(b, d, dtype, compute):
    """``compute(divisor)`` where the integer divisor is nonzero, 0 where it is zero (NumPy's result)."""
    zero = b.one("Equal", d, _c(b, 0, dtype))
    value = compute(b.one("Where", zero, _c(b, 1, dtype), d))
    return b.one("Where", zero, _c(b, 0, dtype), value)


def _floor_divide(b, a, d, dtype):
    if np.dtype(dtype).kind in "iu":
        return _safe_integer(b, d, dtype, lambda safe: b.one(
            "Div", b.one("Sub", a, b.one("Mod", a, safe, fmod=0)), safe))
    return b.one("Floor", b.one("Div", a, d))


def _mod(b, a, d, dtype):
    if np.dtype(dtype).kind in "iu":
        return _safe_integer(b, d, dtype, lambda safe: b.one("Mod", a, safe, fmod=0))
    return b.one("Sub", a, b.one("Mul", _floor_divide(b, a, d, dtype), d))


def _arctan2(b, y, x, dtype):
    base = b.one("Atan", b.one("Div", y, x))
    zero = _c(b, 0, dtype)
    pi = b.one("Where", b.one("Less", y, zero), _c(b, -math.pi, dtype), _c(b, math.pi, dtype))
    shifted = b.one("Where", b.one("Less", x, zero), b.one("Add", base, pi), base)
    half = b.one("Mul", b.one("Sign", y), _c(b, math.pi / 2, dtype))
    return b.one("Where", b.one("Equal", x, zero), half, shifted)


def _softplus(b, a, dtype):
    """relu(x) + log(1 + exp(-|x|)): no overflow for large x (ONNX's Softplus is log(exp(x) + 1))."""
    tail = b.one("Exp", b.one("Neg", b.one("Abs", a)))
    return b.one("Add", b.one("Relu", a), b.one("Log", b.one("Add", _c(b, 1, dtype), tail)))


def _invert(b, a, dtype):
    return b.one("Not", a) if dtype == "bool" else b.one("BitwiseNot", a)


COMPOSED = {
    "floor_divide": _floor_divide,
    "mod": _mod,
    "arctan2": _arctan2,
    "reciprocal": lambda b, a, dtype: b.one("Div", _c(b, 1, dtype), a),
    "square": lambda b, a, dtype: b.one("Mul", a, a),
    "exp2": lambda b, a, dtype: b.one("Pow", _c(b, 2, dtype), a),
    "expm1": lambda b, a, dtype: b.one("Sub", b.one("Exp", a), _c(b, 1, dtype)),
    "log2": lambda b, a, dtype: b.one("Div", b.one("Log", a), _c(b, math.log(2), dtype)),
    "log10": lambda b, a, dtype: b.one("Div", b.one("Log", a), _c(b, math.log(10), dtype)),
    "log1p": lambda b, a, dtype: b.one("Log", b.one("Add", a, _c(b, 1, dtype))),
    "softplus": _softplus,
    "erfc": lambda b, a, dtype: b.one("Sub", _c(b, 1, dtype), b.one("Erf", a)),
    "clip": lambda b, x, lo, hi, dtype: b.one("Min", b.one("Max", x, lo), hi),
    "not_equal": lambda b, x, y, dtype: b.one("Not", b.one("Equal", x, y)),
    "invert": _invert,
}


NARROW = ("bool", "int8", "int16", "uint8", "uint16")
IDENTITY_ON_INTEGERS = {"floor", "ceil", "round"}
FALSE_ON_INTEGERS = {"isnan", "isinf"}


def carrier(name: str, work: str) -> str:
    """The dtype the ONNX nodes run in: onnxruntime's arithmetic kernels take no bool and no narrow
    integers, so those compute in int32 (then cast back, wrapping as NumPy does), and its IsNaN/IsInf
    take no float16."""
    if name in LOGICAL or name in BITWISE or name == "invert":
        return work
    if work in NARROW:
        return "int32"
    if work == "float16" and name in FALSE_ON_INTEGERS:
        return "float32"
    return work


def compute_dtype(name: str, input_dtypes: list[str], output_dtype: str) -> str:
    """The dtype the ONNX form computes in (all its inputs are cast to it)."""
    if name in COMPARISONS or name in ("where", "second"):
        values = input_dtypes[1:] if name in ("where", "second") else input_dtypes
        return np.result_type(*[np.dtype(d) for d in values]).name
    if name in LOGICAL:
        return "bool"
    return output_dtype


def emit_scalar(b: Builder, name: str, args: list[str], dtype: str) -> str | None:
    """The ONNX value of scalar op ``name`` on ``args`` (all of ``dtype``); None if it has no form."""
    if np.dtype(dtype).kind in "iu" and name in IDENTITY_ON_INTEGERS:
        return b.one("Identity", args[0])
    if np.dtype(dtype).kind in "iu" and name in FALSE_ON_INTEGERS:
        return b.one("Not", b.one("Equal", args[0], args[0]))
    if name in SIMPLE:
        return b.one(SIMPLE[name], *args)
    if name in COMPOSED:
        return COMPOSED[name](b, *args, dtype)
    if name in BITWISE:
        bitwise, logical = BITWISE[name]
        return b.one(logical if dtype == "bool" else bitwise, *args)
    return None

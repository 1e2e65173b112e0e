"""The CUDA C scalar op table: one template per ScalarOp name, the sibling of ``codegen/llvm/scalar``.

An emitter gets the C expressions of the arguments (already in their
compute types: ``bool``, ``float`` for float16 and float32, ``double``, the
integer types), their dtypes and the output dtype, and returns a C
expression of the result in the output's compute type.  The semantics are
the LLVM printer's (NumPy's ufunc loops): arguments are converted to the
loop dtype first, NaN propagates through maximum/minimum, round is
round-half-to-even, float16 results are rounded to half after every op,
signed integer arithmetic wraps (it is done on the unsigned type, where C
defines it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.codegen.program.scalar_table import UNCONVERTED, ScalarTable, loop_dtype
from theanine.graph.type import is_float

Emitter = Callable[[list[str], Sequence[str], str], str]

_TABLE = ScalarTable()
_register = _TABLE.register
supports = _TABLE.supports
"""True when the CUDA printer can compile scalar op ``name`` for these dtypes."""

C_TYPES = {
    "bool": "bool", "int8": "th_i8", "uint8": "th_u8", "int16": "th_i16", "uint16": "th_u16",
    "int32": "th_i32", "uint32": "th_u32", "int64": "th_i64", "uint64": "th_u64",
    "float16": "float", "float32": "float", "float64": "double",
}
"""Compute types (what a value is held in while it is computed)."""

MEMORY_TYPES = dict(C_TYPES, bool="th_u8", float16="th_u16")
"""Memory types (how an element sits in a buffer)."""

UNSIGNED_OF = {"int8": "th_u8", "int16": "th_u16", "int32": "th_u32", "int64": "th_u64"}


def compute_type(dtype: str) -> str:
    return C_TYPES[dtype]


def memory_type(dtype: str) -> str:
    return MEMORY_TYPES[dtype]


def itemsize(dtype: str) -> int:
    """Bytes one element of ``dtype`` takes in a buffer."""
    return np.dtype(dtype).itemsize


def load(pointer_expr: str, dtype: str) -> str:
    """An element read from memory, in its compute type."""
    if dtype == "bool":
        return f"({pointer_expr} != 0)"
    if dtype == "float16":
        return f"th_h2f({pointer_expr})"
    return pointer_expr


def stored(value: str, dtype: str) -> str:
    """A computed value in its memory representation."""
    if dtype == "bool":
        return f"(th_u8)({value})"
    if dtype == "float16":
        return f"th_f2h({value})"
    return value


def literal(value, dtype: str) -> str:
    """A C literal of ``value`` in ``dtype``'s compute type (exact: floats print their bits' repr)."""
    if dtype == "bool":
        return "true" if value else "false"
    if is_float(dtype):
        v = float(value)
        ctype = C_TYPES[dtype]
        if v != v:
            return "th_f64_from_bits(0x7ff8000000000000ull)" if dtype == "float64" else "th_f32_from_bits(0x7fc00000u)"
        if v in (float("inf"), float("-inf")):
            inf = "th_inf_d()" if dtype == "float64" else "th_inf_f()"
            return inf if v > 0 else f"(-{inf})"
        text = float(np.float32(v)).hex() if dtype != "float64" else v.hex()
        return f"(({ctype}){text}{'' if dtype == 'float64' else 'f'})" if "p" in text else f"(({ctype}){text})"
    v = int(value)
    info = np.iinfo(dtype)
    v = int(np.array(v).astype(dtype)) if not info.min <= v <= info.max else v
    if dtype == "int64" and v == info.min:
        return "((th_i64)0x8000000000000000ull)"
    suffix = "ull" if dtype.startswith("uint") or v > 0x7FFFFFFF else ("ll" if abs(v) > 0x7FFFFFFF else "")
    return f"(({C_TYPES[dtype]}){v}{suffix})" if v >= 0 else f"(({C_TYPES[dtype]})({v}{suffix}))"


def convert(value: str, src: str, dst: str) -> str:
    """NumPy's astype between compute types (float -> int by theanine's rule; -> float16 rounds)."""
    if src == dst:
        return value
    if dst == "float16" and src != "bool":
        if src == "float64":
            return f"th_round_half(th_f64_to_f32_odd({value}))"
        return f"th_round_half({convert(value, src, 'float32')})"
    if dst == "bool":
        return f"(({value}) != 0)"
    if src == "bool" or not is_float(src):
        return f"(({C_TYPES[dst]})({value}))"
    if is_float(dst):
        return f"(({C_TYPES[dst]})({value}))"
    rule = {"int64": "th_f2i64", "uint64": "th_f2u64", "uint32": "th_f2u32"}.get(dst, "th_f2i32")
    return f"(({C_TYPES[dst]}){rule}((double)({value})))"


def emit(name: str, args: list[str], in_dtypes: Sequence[str], out_dtype: str) -> tuple[str, str | None]:
    """The C expression of scalar op ``name`` and the condition under which NumPy would raise (or None)."""
    if name.startswith("cast_"):
        return convert(args[0], in_dtypes[0], out_dtype), None
    fn = _TABLE.emitter(name)
    loop = loop_dtype(name, in_dtypes, out_dtype)
    if name not in UNCONVERTED:
        args = [convert(a, d, loop) for a, d in zip(args, in_dtypes, strict=False)]
        in_dtypes = [loop] * len(args)
    failed = None
    if name == "power" and not is_float(out_dtype) and not out_dtype.startswith("uint"):
        failed = f"({args[1]} < 0)"
    result = fn(args, in_dtypes, out_dtype)
    return (f"th_round_half({result})" if out_dtype == "float16" else result), failed


def _wrapping(op: str):
    """Integer arithmetic that wraps as NumPy's does (through the unsigned type)."""

    def fn(a, d, o):
        if is_float(o):
            return f"({a[0]} {op} {a[1]})"
        if o == "bool":
            return f"({a[0]} {'|' if op == '+' else '&'} {a[1]})"
        unsigned = UNSIGNED_OF.get(o, C_TYPES[o])
        return f"(({C_TYPES[o]})(({unsigned}){a[0]} {op} ({unsigned}){a[1]}))"

    return fn


_register("add", "fib")(_wrapping("+"))
_register("subtract", "fi")(_wrapping("-"))
_register("multiply", "fib")(_wrapping("*"))
_register("true_divide", "f")(lambda a, d, o: f"({a[0]} / {a[1]})")
_register("reciprocal", "f")(lambda a, d, o: f"(({C_TYPES[o]})1 / {a[0]})")
_register("square", "fi")(lambda a, d, o: _wrapping("*")([a[0], a[0]], d, o))


@_register("floor_divide", "fi")
def _floor_divide(a, d, o):
    return f"th_fdiv_floor<{C_TYPES[o]}>({a[0]}, {a[1]})" if is_float(o) else \
        f"th_idiv_floor<{C_TYPES[o]}>({a[0]}, {a[1]})"


@_register("mod", "fi")
def _mod(a, d, o):
    return f"th_fmod_floor<{C_TYPES[o]}>({a[0]}, {a[1]})" if is_float(o) else \
        f"th_imod_floor<{C_TYPES[o]}>({a[0]}, {a[1]})"


@_register("negative", "fi")
def _negative(a, d, o):
    if is_float(o):
        return f"(-{a[0]})"
    unsigned = UNSIGNED_OF.get(o, C_TYPES[o])
    return f"(({C_TYPES[o]})(({unsigned})0 - ({unsigned}){a[0]}))"


@_register("abs", "fib")
def _abs(a, d, o):
    if o == "bool" or o.startswith("uint"):
        return a[0]
    if is_float(o):
        return f"fabs({a[0]})"
    return f"({a[0]} < 0 ? {_negative(a, d, o)} : {a[0]})"


@_register("sign", "fi")
def _sign(a, d, o):
    t, x = C_TYPES[o], a[0]
    if is_float(o):
        return f"({x} != {x} ? {x} : ({x} < 0 ? ({t})-1 : ({x} > 0 ? ({t})1 : ({t})0)))"
    if o.startswith("uint"):
        return f"(({t})({x} != 0))"
    return f"(({t})({x} < 0 ? -1 : ({x} > 0 ? 1 : 0)))"


@_register("power", "fi")
def _power(a, d, o):
    if is_float(o):
        return f"{_math_name('pow', o)}({a[0]}, {a[1]})"
    bits = np.dtype(o).itemsize * 8 - (0 if o.startswith("uint") else 1)
    return f"th_ipow<{C_TYPES[o]}>({a[0]}, {a[1]}, {bits})"


_register("philox_word", "i")(lambda a, d, o: f"th_philox_word({', '.join(a)})")
_register("philox_counter", "i")(lambda a, d, o: f"th_philox_counter({', '.join(a)})")
_register("mulhi", "i")(lambda a, d, o: f"__umul64hi({a[0]}, {a[1]})")


def _pick(x: str, y: str, o: str, op: str) -> str:
    """NumPy's maximum/minimum: ``x`` when ``x op y`` or x is NaN, else ``y`` (ties give y)."""
    if is_float(o):
        return f"(({x} {op} {y} || {x} != {x}) ? {x} : {y})"
    return f"(({x} {op} {y}) ? {x} : {y})"


_register("maximum", "fib")(lambda a, d, o: _pick(a[0], a[1], o, ">"))
_register("minimum", "fib")(lambda a, d, o: _pick(a[0], a[1], o, "<"))
_register("relu", "fib")(lambda a, d, o: _pick(a[0], f"(({C_TYPES[o]})0)", o, ">"))
_register("clip", "fib")(lambda a, d, o: _pick(_pick(a[0], a[1], o, ">"), a[2], o, "<"))
_register("where", "fib")(lambda a, d, o: f"({convert(a[0], d[0], 'bool')} ? {convert(a[1], d[1], o)} : "
                                           f"{convert(a[2], d[2], o)})")
_register("second", "fib")(lambda a, d, o: convert(a[1], d[1], o))


def _rounding(function: str):
    def fn(a, d, o):
        return f"{_math_name(function, o)}({a[0]})" if is_float(o) else a[0]

    return fn


_register("floor", "fib")(_rounding("floor"))
_register("ceil", "fib")(_rounding("ceil"))
_register("round", "fib")(_rounding("rint"))

_C_MATH = {
    "exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2", "log10": "log10",
    "log1p": "log1p", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "erf": "erf", "erfc": "erfc",
}


def _math_name(function: str, dtype: str) -> str:
    """The C math library's name for ``function`` in ``dtype``'s compute type (``expf`` for float)."""
    return function if dtype == "float64" else function + "f"


for _name, _c in _C_MATH.items():
    _register(_name, "f")(lambda a, d, o, _c=_c: f"{_math_name(_c, o)}({a[0]})")
_register("arctan2", "f")(lambda a, d, o: f"{_math_name('atan2', o)}({a[0]}, {a[1]})")


@_register("sigmoid", "f")
def _sigmoid(a, d, o):
    t = C_TYPES[o]
    return f"(({t})1 / (({t})1 + {_math_name('exp', o)}(-{a[0]})))"


@_register("softplus", "f")
def _softplus(a, d, o):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|) (NumPy's logaddexp(0, x))."""
    x, t = a[0], C_TYPES[o]
    return (f"({x} != {x} ? {x} : (({x} > ({t})0 ? {x} : ({t})0) + "
            f"{_math_name('log1p', o)}({_math_name('exp', o)}(-{_math_name('fabs', o)}({x})))))")


def _comparison(op: str):
    return lambda a, d, o: f"({a[0]} {op} {a[1]})"


for _name, _op in [("equal", "=="), ("less", "<"), ("less_equal", "<="), ("greater", ">"),
                   ("greater_equal", ">="), ("not_equal", "!=")]:
    _register(_name, "fib")(_comparison(_op))


def _logical(op: str):
    def fn(a, d, o):
        x, y = (convert(v, dt, "bool") for v, dt in zip(a, d, strict=False))
        return f"({x} {op} {y})"

    return fn


_register("logical_and", "b")(_logical("&&"))
_register("logical_or", "b")(_logical("||"))
_register("logical_xor", "b")(_logical("!="))
_register("logical_not", "b")(lambda a, d, o: f"(!{convert(a[0], d[0], 'bool')})")
_register("bitwise_and", "ib")(lambda a, d, o: f"(({C_TYPES[o]})({a[0]} & {a[1]}))")
_register("bitwise_or", "ib")(lambda a, d, o: f"(({C_TYPES[o]})({a[0]} | {a[1]}))")
_register("bitwise_xor", "ib")(lambda a, d, o: f"(({C_TYPES[o]})({a[0]} ^ {a[1]}))")
_register("invert", "ib")(lambda a, d, o: f"(!{a[0]})" if o == "bool" else f"(({C_TYPES[o]})~{a[0]})")
_register("isnan", "fib")(lambda a, d, o: f"({a[0]} != {a[0]})" if is_float(d[0]) else "false")
_register("isinf", "fib")(lambda a, d, o: f"({_math_name('fabs', d[0])}({a[0]}) == "
                                          f"{'th_inf_d()' if d[0] == 'float64' else 'th_inf_f()'})"
                          if is_float(d[0]) else "false")


# reductions ----------------------------------------------------------------------


def reduce_identity(kind: str, dtype: str) -> str:
    """The identity of combine ``kind`` in ``dtype``'s compute type."""
    if kind in ("add", "or"):
        return literal(0, dtype)
    if kind in ("mul", "and"):
        return literal(1, dtype)
    if is_float(dtype):
        return literal(float("-inf") if kind == "max" else float("inf"), dtype)
    if dtype == "bool":
        return literal(kind != "max", dtype)
    info = np.iinfo(dtype)
    return literal(int(info.min) if kind == "max" else int(info.max), dtype)


def reduce_combine(kind: str, acc: str, x: str, dtype: str) -> str:
    """``acc (kind) x`` in ``dtype``'s compute type."""
    if kind in ("add", "mul"):
        return _wrapping("+" if kind == "add" else "*")([acc, x], [dtype] * 2, dtype)
    if kind == "and":
        return f"({acc} && {x})"
    if kind == "or":
        return f"({acc} || {x})"
    if is_float(dtype):
        return f"th_f{'maximum' if kind == 'max' else 'minimum'}<{C_TYPES[dtype]}>({acc}, {x})"
    return f"(({acc} {'>=' if kind == 'max' else '<='} {x}) ? {acc} : {x})"

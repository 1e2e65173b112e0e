"""The elementwise op table: one row per NumPy function.

Each row gives the NumPy implementation (which also fixes the output
dtype) and the gradient as a tensor expression of the inputs ``x``, the
outputs ``o`` and the output gradients ``g``.  Rows whose output is bool
or integer have no gradient (disconnected); piecewise-constant rows
(floor, sign, ...) have a zero gradient.

Where NumPy has no function, the row says what it follows:

- ``sigmoid``, ``softplus``, ``erf``, ``erfc`` take NumPy's rule for unary
  float functions such as ``np.exp`` (int8 -> float16, int16 -> float32,
  int32/int64 -> float64, floats keep their dtype); float16 is computed in
  float32 and rounded once.
- ``relu(x)`` is ``0`` where ``x <= 0`` else ``x``: it keeps the dtype,
  propagates NaN and maps -0.0 to +0.0.
- ``reciprocal(x)`` is ``1 / x`` in floating point (integers give float64,
  as true division does), not ``np.reciprocal``'s truncating integer loop.
- ``second(a, b)`` (alias ``fill``) is ``b`` broadcast against ``a``.
"""

from __future__ import annotations

import math as _pymath

import numpy as np

from theanine.graph import ops
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import is_string, normalize_dtype

__all__ = [
    "add", "subtract", "sub", "multiply", "mul", "true_divide", "divide", "floor_divide", "mod",
    "power", "pow", "negative", "neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2",
    "log10", "log1p", "sqrt", "square", "sqr", "reciprocal", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh",
    "sigmoid", "softplus", "relu", "erf", "erfc", "floor", "ceil", "round", "clip", "maximum",
    "minimum", "where", "switch", "equal", "eq", "not_equal", "neq", "less", "lt", "less_equal",
    "le", "greater", "gt", "greater_equal", "ge", "logical_and", "logical_or", "logical_not",
    "logical_xor", "isnan", "isinf", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "cast", "second",
    "fill", "Cast", "ELEMWISE_OPS",
]

ELEMWISE_OPS: dict[str, Elemwise] = {}


def _row(name: str, nin: int, impl, grad=None, **options):
    """Register one elementwise op and return its tensor-level function.

    ``options`` go to ``ScalarOp`` (``nondiff_inputs``, ``out_of_range_ints``).
    """
    op = Elemwise(ScalarOp(name, nin, impl, grad, **options))
    ELEMWISE_OPS[name] = op

    def apply(*args):
        return op(*args)

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = f"Elementwise ``{name}`` with NumPy broadcasting and dtype promotion."
    return apply


def _zeros(x, o, g):
    """Zero gradients (at the output's shape) for a piecewise-constant op."""
    return [second(o[0], 0) for _ in x]


def _float_dtype(dtype) -> np.dtype:
    """The float dtype NumPy's unary float functions (``np.exp``) return for ``dtype``."""
    return np.result_type(dtype, np.float16)


def _float_function(fn):
    """``fn`` (a SciPy/NumPy float function) with ``np.exp``'s dtype rule.

    float16 is computed in float32 and rounded once, so every backend can
    match it exactly.
    """

    def impl(a):
        dtype = _float_dtype(a.dtype)
        work = np.float32 if dtype == np.float16 else dtype
        return np.asarray(fn(a.astype(work)), dtype=work).astype(dtype)

    return impl


def _relu(a):
    return np.where(a <= 0, np.zeros((), a.dtype), a)


def _second(a, b):
    return np.array(np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)))


def _power_grads(x, o, g):
    """d x**y / dx = y x**(y-1); d x**y / dy = x**y log x (taken as 0 where x <= 0)."""
    base, exponent = x
    positive = greater(base, 0)
    dbase = g[0] * exponent * power(base, cast(exponent, o[0].dtype) - 1)
    dexponent = g[0] * where(positive, o[0] * log(where(positive, base, 1)), 0)
    return [dbase, dexponent]


def _clip_grads(x, o, g):
    """clip is minimum(maximum(x, lo), hi); ties go to x, as in maximum/minimum."""
    value, low, high = x
    raised = maximum(value, low)
    below_high = less_equal(raised, high)
    return [
        where(logical_and(greater_equal(value, low), below_high), g[0], 0),
        where(logical_and(less(value, low), below_high), g[0], 0),
        where(below_high, 0, g[0]),
    ]


# arithmetic
add = _row("add", 2, np.add, lambda x, o, g: [g[0], g[0]])
subtract = _row("subtract", 2, np.subtract, lambda x, o, g: [g[0], -g[0]])
multiply = _row("multiply", 2, np.multiply, lambda x, o, g: [g[0] * x[1], g[0] * x[0]])
true_divide = _row(
    "true_divide", 2, np.true_divide, lambda x, o, g: [g[0] / x[1], -g[0] * o[0] / x[1]]
)
floor_divide = _row("floor_divide", 2, np.floor_divide, _zeros)
mod = _row("mod", 2, np.mod, lambda x, o, g: [g[0], -g[0] * floor_divide(x[0], x[1])])
power = _row("power", 2, np.power, _power_grads)
negative = _row("negative", 1, np.negative, lambda x, o, g: [-g[0]])
abs = _row("abs", 1, np.abs, lambda x, o, g: [g[0] * sign(x[0])])
sign = _row("sign", 1, np.sign, _zeros)
reciprocal = _row(
    "reciprocal", 1, lambda a: np.true_divide(1, a), lambda x, o, g: [-g[0] * o[0] * o[0]]
)
square = _row("square", 1, np.square, lambda x, o, g: [g[0] * 2 * x[0]])
sqrt = _row("sqrt", 1, np.sqrt, lambda x, o, g: [g[0] * 0.5 / o[0]])

# exponentials and logarithms
exp = _row("exp", 1, np.exp, lambda x, o, g: [g[0] * o[0]])
exp2 = _row("exp2", 1, np.exp2, lambda x, o, g: [g[0] * o[0] * _pymath.log(2.0)])
expm1 = _row("expm1", 1, np.expm1, lambda x, o, g: [g[0] * (o[0] + 1)])
log = _row("log", 1, np.log, lambda x, o, g: [g[0] / x[0]])
log2 = _row("log2", 1, np.log2, lambda x, o, g: [g[0] / (x[0] * _pymath.log(2.0))])
log10 = _row("log10", 1, np.log10, lambda x, o, g: [g[0] / (x[0] * _pymath.log(10.0))])
log1p = _row("log1p", 1, np.log1p, lambda x, o, g: [g[0] / (x[0] + 1)])

# trigonometric and hyperbolic
sin = _row("sin", 1, np.sin, lambda x, o, g: [g[0] * cos(x[0])])
cos = _row("cos", 1, np.cos, lambda x, o, g: [-g[0] * sin(x[0])])
tan = _row("tan", 1, np.tan, lambda x, o, g: [g[0] * (1 + o[0] * o[0])])
arcsin = _row("arcsin", 1, np.arcsin, lambda x, o, g: [g[0] / sqrt(1 - x[0] * x[0])])
arccos = _row("arccos", 1, np.arccos, lambda x, o, g: [-g[0] / sqrt(1 - x[0] * x[0])])
arctan = _row("arctan", 1, np.arctan, lambda x, o, g: [g[0] / (1 + x[0] * x[0])])
arctan2 = _row(
    "arctan2",
    2,
    np.arctan2,
    lambda x, o, g: [
        g[0] * x[1] / (x[0] * x[0] + x[1] * x[1]),
        -g[0] * x[0] / (x[0] * x[0] + x[1] * x[1]),
    ],
)
sinh = _row("sinh", 1, np.sinh, lambda x, o, g: [g[0] * cosh(x[0])])
cosh = _row("cosh", 1, np.cosh, lambda x, o, g: [g[0] * sinh(x[0])])
tanh = _row("tanh", 1, np.tanh, lambda x, o, g: [g[0] * (1 - o[0] * o[0])])
arcsinh = _row("arcsinh", 1, np.arcsinh, lambda x, o, g: [g[0] / sqrt(x[0] * x[0] + 1)])
arccosh = _row("arccosh", 1, np.arccosh, lambda x, o, g: [g[0] / sqrt(x[0] * x[0] - 1)])
arctanh = _row("arctanh", 1, np.arctanh, lambda x, o, g: [g[0] / (1 - x[0] * x[0])])

# neural-network activations and special functions; SciPy's special functions are
# imported on first use (importing scipy.special adds about 0.2 s to ``import theanine``)


def _expit(a):
    from scipy.special import expit

    return expit(a)


def _erf(a):
    from scipy.special import erf

    return erf(a)


def _erfc(a):
    from scipy.special import erfc

    return erfc(a)


sigmoid = _row(
    "sigmoid", 1, _float_function(_expit), lambda x, o, g: [g[0] * o[0] * (1 - o[0])]
)
softplus = _row(
    "softplus",
    1,
    _float_function(lambda a: np.logaddexp(0, a)),
    lambda x, o, g: [g[0] * sigmoid(x[0])],
)
relu = _row("relu", 1, _relu, lambda x, o, g: [where(greater(x[0], 0), g[0], 0)])
erf = _row(
    "erf",
    1,
    _float_function(_erf),
    lambda x, o, g: [g[0] * (2 / _pymath.sqrt(_pymath.pi)) * exp(-x[0] * x[0])],
)
erfc = _row(
    "erfc",
    1,
    _float_function(_erfc),
    lambda x, o, g: [-g[0] * (2 / _pymath.sqrt(_pymath.pi)) * exp(-x[0] * x[0])],
)

# rounding: piecewise constant, gradient zero almost everywhere
floor = _row("floor", 1, np.floor, _zeros)
ceil = _row("ceil", 1, np.ceil, _zeros)
round = _row("round", 1, np.round, _zeros)

# selection; on ties the whole gradient goes to the first argument (a subgradient)
maximum = _row(
    "maximum",
    2,
    np.maximum,
    lambda x, o, g: [where(greater_equal(x[0], x[1]), g[0], 0), where(less(x[0], x[1]), g[0], 0)],
)
minimum = _row(
    "minimum",
    2,
    np.minimum,
    lambda x, o, g: [where(less_equal(x[0], x[1]), g[0], 0), where(greater(x[0], x[1]), g[0], 0)],
)
clip = _row("clip", 3, np.clip, _clip_grads, out_of_range_ints="clamp")
where = _row(
    "where",
    3,
    np.where,
    lambda x, o, g: [None, where(x[0], g[0], 0), where(x[0], 0, g[0])],
    nondiff_inputs=(0,),
    takes_strings=True,
)
second = _row("second", 2, _second, lambda x, o, g: [None, g[0]], nondiff_inputs=(0,), takes_strings=True)
second.__doc__ = (
    "The second input broadcast to the shape of both: ``second(x, 0)`` is zeros_like(x)."
)
fill = second

# comparisons and logic: bool outputs, no gradient
equal = _row("equal", 2, np.equal, out_of_range_ints="widen", takes_strings=True)
not_equal = _row("not_equal", 2, np.not_equal, out_of_range_ints="widen", takes_strings=True)
less = _row("less", 2, np.less, out_of_range_ints="widen")
less_equal = _row("less_equal", 2, np.less_equal, out_of_range_ints="widen")
greater = _row("greater", 2, np.greater, out_of_range_ints="widen")
greater_equal = _row("greater_equal", 2, np.greater_equal, out_of_range_ints="widen")
logical_and = _row("logical_and", 2, np.logical_and)
logical_or = _row("logical_or", 2, np.logical_or)
logical_xor = _row("logical_xor", 2, np.logical_xor)
logical_not = _row("logical_not", 1, np.logical_not)
isnan = _row("isnan", 1, np.isnan)
isinf = _row("isinf", 1, np.isinf)

# bitwise: on bools they are the logical operations, as in NumPy (``&``, ``|``, ``^``, ``~``)
bitwise_and = _row("bitwise_and", 2, np.bitwise_and)
bitwise_or = _row("bitwise_or", 2, np.bitwise_or)
bitwise_xor = _row("bitwise_xor", 2, np.bitwise_xor)
invert = _row("invert", 1, np.invert)


def float_to_integer(values, dtype) -> np.ndarray:
    """Floats converted to the integer ``dtype`` by theanine's rule, the same in every backend.

    In range, the value truncated toward zero (NumPy's ``astype``).  Out of
    range, where NumPy leaves the result to the platform (and its own loops
    disagree between source dtypes), theanine gives what NumPy gives on
    x86-64 for float32 and float64 sources:

    - int32 and int64: the most negative value (NaN too);
    - int8, int16, uint8, uint16: the int32 result, wrapped to the width;
    - uint32 and uint64 (b bits): values in [2**(b-1), 2**b) convert
      exactly, values from 2**b up (and +inf) give 0, and anything lower
      gives the signed b-bit result reinterpreted (so -1.0 -> 2**b - 1).
    """
    x = np.asarray(values, dtype=np.float64)  # exact for every float source
    dtype = np.dtype(dtype)
    bits = 64 if dtype.itemsize == 8 else 32
    signed_type, unsigned_type = np.dtype(f"int{bits}"), np.dtype(f"uint{bits}")
    half = 2.0 ** (bits - 1)
    with np.errstate(invalid="ignore"):
        inside = (x >= -half) & (x < half)
        upper = (x >= half) & (x < 2 * half)
    signed = np.where(inside, np.where(inside, x, 0).astype(signed_type), np.iinfo(signed_type).min)
    if dtype.kind == "u" and dtype.itemsize >= 4:
        top = (np.where(upper, x - half, 0).astype(signed_type).view(unsigned_type)
               + unsigned_type.type(2 ** (bits - 1)))
        beyond = np.zeros_like(top)
        return np.where(upper, top, np.where(x >= 2 * half, beyond, signed.view(unsigned_type))).astype(dtype)
    return signed.astype(dtype)


def _convert(a, dtype: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f" and np.dtype(dtype).kind in "iu":
        return float_to_integer(a, dtype)
    return a.astype(dtype)


class Cast(ScalarOp):
    """Convert to ``dtype`` as NumPy's ``astype`` does where NumPy defines the result.

    Floats to ints truncate toward zero, and out-of-range floats (NaN and
    inf included) follow ``float_to_integer``'s documented rule in every
    backend and every kernel.  Ints wrap around; anything nonzero (NaN
    included) is True as bool.
    """

    __props__ = ("name", "dtype")

    def __init__(self, dtype: str):
        self.dtype = normalize_dtype(dtype)
        super().__init__(
            f"cast_{self.dtype}",
            1,
            lambda a: _convert(a, self.dtype),
            lambda x, o, g: [g[0]],
        )


def cast(x, dtype):
    """``x.astype(dtype)``; a no-op when the dtype already matches."""
    x = as_tensor_variable(x)
    dtype = normalize_dtype(dtype)
    if x.dtype == dtype:
        return x
    if is_string(dtype) or is_string(x.dtype):
        return ops.strings.convert(x, dtype)  # NumPy's astype between strings and numbers
    return Elemwise(Cast(dtype))(x)


# short names, as in Theano
sub, mul, divide, pow, neg, sqr = subtract, multiply, true_divide, power, negative, square
switch = where
eq, neq, lt, le, gt, ge = equal, not_equal, less, less_equal, greater, greater_equal

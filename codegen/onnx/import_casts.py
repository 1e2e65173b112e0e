"""ONNX Cast, CastLike (including the types theanine carries in a wider dtype: formats.py) and BitCast.

A cast to a carried float format rounds in float64 with graph elementwise
ops: the magnitude's exponent ``e`` (``floor(log2)``, corrected against an
exact table of powers of two, so an inexact ``log2`` or ``exp2`` kernel
cannot move it), clamped below at the format's smallest normal exponent
(subnormals); the quantum ``2**(e - mantissa)``; ``round_half_even(a / q) * q``
(exact: ``q`` is a power of two).  Then ONNX's table: NaN stays NaN
(FLOAT4E2M1 has none: -0, as ml_dtypes gives for a positive NaN; it gives +0
for a NaN with the sign bit set, which the graph does not read); overflow and
infinities give +-max when saturating (the float8 types' ``saturate=1``,
always for FLOAT4E2M1), else inf (E5M2, bfloat16) or NaN; the FNUZ types have
no -0.  FLOAT8E8M0 (powers of two) follows onnx's reference bit recipe with
its ``round_mode`` (``round_to_exponent``).  A cast to a carried
integer truncates a float (out of range, or NaN: 0, as ml_dtypes; ONNX leaves
it undefined) and keeps an integer's low bits (two's complement), as ONNX
says for fixed-point narrowing.  A float rounding passes its gradient
straight through (a ``GradientOverride``, gone once compiled), so a graph
holding bfloat16 or float8 values still fine-tunes.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.formats import FLOAT8, FORMATS, Format
from theanine.codegen.onnx.reader import Unsupported, imports
from theanine.graph.ops.bitcast import bitcast
from theanine.graph.ops.custom_gradient import GradientOverride

LOWEST_EXPONENT, HIGHEST_EXPONENT = -160, 140
"""The powers of two tabulated: below 2**-160 every carried format rounds to 0, from 2**130 on
every one overflows (float64 inputs beyond either end are clamped into the table first)."""


def _powers_of_two():
    return th.constant(np.exp2(np.arange(LOWEST_EXPONENT, HIGHEST_EXPONENT + 1, dtype=np.float64)))


def _power(table, exponent):
    return th.take(table, exponent - LOWEST_EXPONENT)


def _exponent(a, table):
    """``floor(log2(a))`` for finite ``a > 0`` as int64, exact (corrected by one step each way)."""
    guess = th.cast(th.clip(th.floor(th.log2(a)), LOWEST_EXPONENT + 1, HIGHEST_EXPONENT - 2), "int64")
    guess = guess - th.cast(th.greater(_power(table, guess), a), "int64")
    return guess + th.cast(th.less_equal(_power(table, guess + 1), a), "int64")


def _is_negative(x):
    """``x``'s sign bit: negative numbers and -0 (whose reciprocal is -inf)."""
    return th.logical_or(th.less(x, 0), th.logical_and(th.equal(x, 0), th.less(th.reciprocal(x), 0)))


def _pass_gradient(g):
    return g


def _straight_through(x, rounded):
    """``rounded``, whose gradient passes to ``x`` unchanged (a float cast's derivative, as frameworks
    differentiate a cast to bfloat16 or float8; the rounding's own is 0 almost everywhere)."""
    if np.dtype(x.dtype).kind != "f":
        return rounded
    return GradientOverride(_pass_gradient, 1)(x, rounded)


def round_to_format(x, fmt: Format, saturate: bool = False):
    """``x`` rounded to the float format's values (in its carrier dtype); overflow saturates only if asked
    (or for FLOAT4E2M1, which has neither inf nor NaN), as ml_dtypes' conversion does.  The gradient
    passes straight through."""
    source, x = x, th.cast(x, "float64")
    nan, inf = th.isnan(x), th.isinf(x)
    a = th.where(th.logical_or(nan, inf), 1.0, th.abs(x))
    table = _powers_of_two()
    tiny = th.less(a, 2.0 ** (LOWEST_EXPONENT + 1))
    a = th.where(tiny, 0.0, a)
    exponent = th.maximum(_exponent(th.where(tiny, 1.0, a), table), fmt.min_exponent)
    quantum = _power(table, exponent - fmt.mantissa)
    magnitude = th.round(a / quantum) * quantum
    overflow = th.logical_or(inf, th.greater(magnitude, fmt.max))
    if saturate or fmt.saturates_always:
        beyond = fmt.max
    else:
        beyond = np.inf if fmt.has_inf else np.nan
    magnitude = th.where(overflow, beyond, magnitude)
    negative = _is_negative(x)
    if fmt.unsigned_zero:
        negative = th.logical_and(negative, th.not_equal(magnitude, 0))
    if not fmt.has_nan:  # a (positive) NaN becomes -0, as in ml_dtypes
        magnitude, negative = th.where(nan, 0.0, magnitude), th.logical_or(negative, nan)
    signed = th.where(negative, -magnitude, magnitude)
    if fmt.has_nan:
        signed = th.where(nan, np.nan, signed)
    return _straight_through(source, th.cast(signed, fmt.carrier))


def cast_to_integer_format(x, fmt: Format):
    """``x`` as the integer format's values (in its carrier dtype)."""
    if np.dtype(x.dtype).kind == "f":
        whole = th.cast(x, "float64")
        whole = th.where(th.isnan(whole), 0.0, whole)
        whole = th.sign(whole) * th.floor(th.abs(whole))
        inside = th.logical_and(th.greater_equal(whole, fmt.low), th.less_equal(whole, fmt.high))
        return th.cast(th.where(inside, whole, 0.0), fmt.carrier)
    low_bits = th.bitwise_and(th.cast(x, "int64"), 2 ** fmt.bits - 1)
    if fmt.low < 0:
        low_bits = th.where(th.greater(low_bits, fmt.high), low_bits - 2 ** fmt.bits, low_bits)
    return th.cast(low_bits, fmt.carrier)


def round_to_exponent(x, fmt: Format, round_mode: str, saturate: bool):
    """``x`` as FLOAT8E8M0, as onnx's reference (``numpy_helper.to_float8e8m0``) computes it from the
    float32 bits: the exponent field, rounded up when ``round_mode`` is "up" and the mantissa is not
    0, or "nearest" and it is at least half (a subnormal: more than half); the sign is ignored; NaN and
    infinities give NaN (so does rounding past ``max`` unless ``saturate``); 0 gives ``2**-127``."""
    if round_mode not in ("up", "down", "nearest"):
        raise Unsupported(f"round_mode={round_mode!r} (ONNX defines up, down and nearest)")
    source, x = x, th.cast(th.cast(x, "float32"), "float64")
    special = th.logical_or(th.isnan(x), th.isinf(x))
    a = th.where(special, 1.0, th.abs(x))
    table = _powers_of_two()
    subnormal = th.less(a, 2.0 ** -126)
    exponent = th.where(subnormal, -127, _exponent(th.where(subnormal, 1.0, a), table))
    power = _power(table, th.maximum(exponent, -126))  # a subnormal's mantissa counts from 2**-126
    fraction = th.where(subnormal, a, a - power)
    if round_mode == "up":
        up = th.greater(fraction, 0)
    elif round_mode == "nearest":
        up = th.where(subnormal, th.greater(fraction, 2.0 ** -127), th.greater_equal(fraction, power / 2))
    else:
        up = th.zeros_like(fraction, dtype="bool")
    if saturate:
        up = th.logical_and(up, th.less(exponent, 127))
    exponent = exponent + th.cast(up, "int64")
    value = _power(table, th.minimum(exponent, 127))
    out = th.where(th.logical_or(special, th.greater(exponent, 127)), np.nan, value)
    return _straight_through(source, th.cast(out, fmt.carrier))


def cast(ctx, x, to: int, saturate: bool = True, round_mode: str = "up"):
    """``x`` cast to the ONNX element type ``to``; the result's format is recorded in ``ctx``."""
    fmt = FORMATS.get(to)
    if fmt is None:
        if to not in NUMPY_DTYPES:
            raise Unsupported(f"cast to ONNX type {to}")
        return th.cast(x, NUMPY_DTYPES[to])
    if fmt.kind == "int":
        out = cast_to_integer_format(x, fmt)
    elif fmt.kind == "exponent":
        out = round_to_exponent(x, fmt, round_mode, saturate)
    else:
        out = round_to_format(x, fmt, saturate and to in FLOAT8)
    ctx.formats[out] = to
    return out


@imports("Cast")
def _cast(ctx, node, args, attrs):
    return [cast(ctx, args[0], attrs["to"], bool(attrs.get("saturate", 1)), attrs.get("round_mode", "up"))]


@imports("CastLike")
def _cast_like(ctx, node, args, attrs):
    like = args[1]
    to = ctx.formats.get(like) or next(code for code, name in NUMPY_DTYPES.items() if name == like.dtype)
    return [cast(ctx, args[0], to, bool(attrs.get("saturate", 1)), attrs.get("round_mode", "up"))]


@imports("BitCast")
def _bitcast(ctx, node, args, attrs):
    if attrs["to"] not in NUMPY_DTYPES:
        raise Unsupported(f"BitCast to ONNX type {attrs['to']}")
    try:
        return [bitcast(args[0], NUMPY_DTYPES[attrs["to"]])]
    except TypeError as error:
        raise Unsupported(str(error)) from None

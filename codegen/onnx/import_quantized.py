"""ONNX's integer quantization ops as theanine expressions.

``QuantizeLinear`` is ``saturate(round_half_even(x / scale) + zero_point)``
into the zero point's integer type (uint8 without one), ``DequantizeLinear``
``(x - zero_point) * scale``; a scale (and zero point) is a scalar, one value
per index of ``axis``, or with ``block_size`` one value per block of that
many indices along ``axis``.  ``DynamicQuantizeLinear`` picks the uint8 scale
and zero point that cover ``[min(x, 0), max(x, 0)]``.  ``MatMulInteger`` and
``ConvInteger`` subtract the zero points and multiply in int32;
``QLinearMatMul`` and ``QLinearConv`` requantize that product with
``a_scale * b_scale / y_scale``.  The types theanine carries in a wider
dtype (formats.py) quantize too: the 4- and 2-bit integers saturate to their
range, the float8 and float4 types round as a Cast to them does (``saturate``
attribute; their zero point is 0), and dequantize from their carrier.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.formats import FORMATS
from theanine.codegen.onnx.import_casts import cast
from theanine.codegen.onnx.import_windows import _conv
from theanine.codegen.onnx.reader import Unsupported, imports

INTEGER_TYPES = ("uint8", "int8", "uint16", "int16", "int32")


def _broadcast_parameter(value, x, axis: int, block_size: int):
    """A scale or zero point shaped to broadcast against ``x`` (per tensor, per axis or per block)."""
    if value.ndim == 0 or value.type.shape == (1,):
        return th.reshape(value, ())
    if not block_size:
        return th.reshape(value, [1] * axis + [-1] + [1] * (x.ndim - axis - 1))
    length = x.type.shape[axis]
    if length is None:
        raise Unsupported("blocked quantization needs a static size along the axis")
    repeated = th.repeat(value, block_size, axis=axis)
    return th.take(repeated, th.arange(length, dtype="int64"), axis=axis)


def _saturate(values, dtype: str):
    info = np.iinfo(dtype)
    return th.cast(th.clip(values, info.min, info.max), dtype)


@imports("QuantizeLinear")
def _quantize(ctx, node, args, attrs):
    x, scale, zero = (*args, None)[:3]
    axis, block = attrs.get("axis", 1) % max(x.ndim, 1), attrs.get("block_size", 0)
    code = ctx.formats.get(zero) if zero is not None else attrs.get("output_dtype")
    fmt = FORMATS.get(code)
    dtype = fmt.carrier if fmt else zero.dtype if zero is not None else NUMPY_DTYPES.get(code, "uint8")
    if fmt is None and dtype not in INTEGER_TYPES:
        raise Unsupported(f"quantizing to {dtype}")
    precision = NUMPY_DTYPES[attrs["precision"]] if attrs.get("precision") else None
    work, divisor = x, _broadcast_parameter(scale, x, axis, block)
    if precision is not None:
        work, divisor = th.cast(work, precision), th.cast(divisor, precision)
    if fmt is not None and fmt.kind != "int":
        return [cast(ctx, work / divisor, code, bool(attrs.get("saturate", 1)))]
    quantized = th.cast(th.round(work / divisor), "int32")
    if zero is not None:
        quantized = quantized + th.cast(_broadcast_parameter(zero, x, axis, block), "int32")
    if fmt is not None:
        out = th.cast(th.clip(quantized, fmt.low, fmt.high), fmt.carrier)
        ctx.formats[out] = code
        return [out]
    return [_saturate(quantized, dtype)]


@imports("DequantizeLinear")
def _dequantize(ctx, node, args, attrs):
    x, scale, zero = (*args, None)[:3]
    if x.dtype not in INTEGER_TYPES and x not in ctx.formats:
        raise Unsupported(f"dequantizing {x.dtype}")
    axis, block = attrs.get("axis", 1) % max(x.ndim, 1), attrs.get("block_size", 0)
    shifted = th.cast(x, "float32")
    if zero is not None:
        shifted = shifted - th.cast(_broadcast_parameter(zero, x, axis, block), "float32")
    out = shifted * _broadcast_parameter(scale, x, axis, block)
    dtype = NUMPY_DTYPES[attrs["output_dtype"]] if attrs.get("output_dtype") else scale.dtype
    return [th.cast(out, dtype)]


@imports("DynamicQuantizeLinear")
def _dynamic_quantize(ctx, node, args, attrs):
    x = th.cast(args[0], "float32")
    high, low = th.maximum(th.max(x), 0), th.minimum(th.min(x), 0)
    scale = th.where(th.equal(high, low), th.ones((), dtype="float32"), high - low) / np.float32(255)
    zero = th.round(th.clip(-low / scale, 0, 255))
    quantized = th.clip(th.round(x / scale) + zero, 0, 255)
    return [th.cast(quantized, "uint8"), th.cast(scale, args[0].dtype), th.cast(zero, "uint8")]


def _centered(value, zero, axis: int | None = None):
    """``value - zero`` in int32; a per-row/column zero point broadcasts along ``axis``."""
    centered = th.cast(value, "int32")
    if zero is None:
        return centered
    zero = th.cast(zero, "int32")
    if zero.ndim == 1 and zero.type.shape != (1,) and axis is not None:
        zero = th.reshape(zero, [1] * axis + [-1] + [1] * (value.ndim - axis - 1))
    elif zero.ndim:
        zero = th.reshape(zero, ()) if zero.type.shape == (1,) else zero
    return centered - zero


@imports("MatMulInteger")
def _matmul_integer(ctx, node, args, attrs):
    a, b, a_zero, b_zero = (*args, None, None)[:4]
    return [th.matmul(_centered(a, a_zero, a.ndim - 2), _centered(b, b_zero, b.ndim - 1))]


def _requantize(product, a_scale, b_scale, y_scale, y_zero, like):
    dtype = y_zero.dtype if y_zero is not None else like.dtype
    scaled = th.cast(product, "float64") * th.cast(a_scale * b_scale / y_scale, "float64")
    if y_zero is not None:
        scaled = scaled + th.cast(y_zero, "float64")
    return _saturate(th.round(scaled), dtype)


@imports("QLinearMatMul")
def _qlinear_matmul(ctx, node, args, attrs):
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = args
    product = th.matmul(_centered(a, a_zero, a.ndim - 2), _centered(b, b_zero, b.ndim - 1))
    return [_requantize(product, a_scale, b_scale, y_scale, y_zero, a)]


def _integer_conv(ctx, node, x, x_zero, w, w_zero, attrs):
    """The convolution of the zero-point-centered operands, exact in float64, as int32."""
    x_centered = th.cast(_centered(x, x_zero), "float64")
    w_centered = th.cast(_centered(w, w_zero, 0), "float64")
    (product,) = _conv(ctx, node, [x_centered, w_centered], attrs)
    return th.cast(th.round(product), "int32")


@imports("ConvInteger")
def _conv_integer(ctx, node, args, attrs):
    x, w, x_zero, w_zero = (*args, None, None)[:4]
    return [_integer_conv(ctx, node, x, x_zero, w, w_zero, attrs)]


@imports("QLinearConv")
def _qlinear_conv(ctx, node, args, attrs):
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, bias = (*args, None)[:9]
    product = _integer_conv(ctx, node, x, x_zero, w, w_zero, attrs)
    if bias is not None:
        product = product + th.reshape(th.cast(bias, "int32"), (1, -1) + (1,) * (x.ndim - 2))
    if w_scale.ndim == 1 and w_scale.type.shape != (1,):
        w_scale = th.reshape(w_scale, (1, -1) + (1,) * (x.ndim - 2))
    return [_requantize(product, x_scale, w_scale, y_scale, y_zero, x)]

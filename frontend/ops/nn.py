"""Keras' ``ops.nn`` beyond the activations: convolutions, pooling, normalization, attention.

Keras' argument names and defaults (``inputs``, ``dilation_rate``,
``data_format=None`` meaning ``keras.config.image_data_format()``,
``epsilon=None`` meaning ``keras.config.epsilon()``) are mapped onto
theanine's graph functions (``th.conv``, ``th.max_pool``...).  Formulas
follow Keras' NumPy backend: ``moments`` is ``E[x^2] - E[x]^2``,
``normalize`` with order 2 is ``x * min(rsqrt(sum(x^2)), 1/epsilon)``,
``dot_product_attention`` takes ``(batch, seq, heads, dim)`` tensors.
Adaptive pooling uses the windows ``[floor(i*L/n), ceil((i+1)*L/n))`` of
each of the ``n`` outputs along an axis of size ``L`` (PyTorch's, which
Keras' implementation reproduces).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

import theanine as th
from theanine.frontend import activations, config
from theanine.frontend.ops.eager import eager

__all__ = [
    "conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool",
    "adaptive_average_pool", "adaptive_max_pool", "moments", "batch_normalization",
    "layer_normalization", "rms_normalization", "normalize", "multi_hot", "psnr",
    "dot_product_attention", "sparsemax", "in_top_k", "depth_to_space", "space_to_depth", "gelu",
]


def _format(data_format) -> str:
    data_format = config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first'. Received: data_format={data_format!r}"
        )
    return data_format


def _epsilon(epsilon) -> float:
    return config.epsilon() if epsilon is None else epsilon


@eager
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution; ``kernel`` is ``(*spatial, in_channels, out_channels)``."""
    return th.conv(inputs, kernel, strides, padding, dilation_rate, 1, _format(data_format))


@eager
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution; ``kernel`` is ``(*spatial, in_channels, multiplier)``."""
    return th.depthwise_conv(inputs, kernel, strides, padding, dilation_rate, _format(data_format))


@eager
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """A depthwise convolution followed by a 1x1 (pointwise) one."""
    return th.separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides, padding, dilation_rate,
                             _format(data_format))


@eager
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Transposed convolution; ``kernel`` is ``(*spatial, out_channels, in_channels)``."""
    return th.conv_transpose(inputs, kernel, strides, padding, output_padding, dilation_rate, 1,
                             _format(data_format))


@eager
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over the spatial axes."""
    return th.max_pool(inputs, pool_size, strides, padding, _format(data_format))


@eager
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling over the spatial axes (padding cells not counted)."""
    return th.average_pool(inputs, pool_size, strides, padding, _format(data_format))


def _adaptive_pool(what: str, reduce, inputs, output_size, data_format):
    x = th.as_tensor_variable(inputs)
    rank = x.ndim - 2
    if rank < 1:
        raise ValueError(f"ops.{what}: inputs must have a batch, spatial and channel axes. Received: {x.type}")
    sizes = (output_size,) * rank if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(sizes) != rank or builtins.any(int(s) < 1 for s in sizes):
        raise ValueError(f"ops.{what}: output_size must be {rank} positive int(s). Received: {output_size!r}")
    first_spatial = 2 if _format(data_format) == "channels_first" else 1
    for offset, n in enumerate(sizes):
        axis = first_spatial + offset
        length = x.type.shape[axis]
        if length is None:
            raise ValueError(f"ops.{what}: spatial axis {axis} of {x.type} needs a static size")
        index = [slice(None)] * x.ndim
        pieces = []
        for i in range(int(n)):
            index[axis] = slice(math.floor(i * length / n), math.ceil((i + 1) * length / n))
            pieces.append(reduce(x[tuple(index)], axis=axis, keepdims=True))
        x = th.concatenate(pieces, axis=axis)
    return x


@eager
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed spatial ``output_size`` (an int or one per spatial axis)."""
    return _adaptive_pool("adaptive_average_pool", th.mean, inputs, output_size, data_format)


@eager
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed spatial ``output_size`` (an int or one per spatial axis)."""
    return _adaptive_pool("adaptive_max_pool", th.max, inputs, output_size, data_format)


@eager
def moments(x, axes, keepdims: bool = False, synchronized: bool = False):
    """``(mean, variance)`` of ``x`` over ``axes``; variance is ``E[x^2] - E[x]^2`` as in Keras."""
    if synchronized:
        raise NotImplementedError("ops.moments: synchronized=True needs a distribution strategy")
    x = th.as_tensor_variable(x)
    work = th.cast(x, "float32") if x.dtype == "float16" else x
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    mean = th.mean(work, axis=axes, keepdims=True)
    variance = th.mean(th.square(work), axis=axes, keepdims=True) - th.square(mean)
    if not keepdims:
        mean, variance = th.squeeze(mean, axes), th.squeeze(variance, axes)
    if x.dtype == "float16":
        limit = float(np.finfo(np.float16).max)
        mean, variance = (th.cast(th.clip(v, -limit, limit), "float16") for v in (mean, variance))
    return mean, variance


def _along(value, axis: int, ndim: int, size):
    """A per-channel vector reshaped to broadcast along ``axis`` of a rank-``ndim`` tensor."""
    shape = [1] * ndim
    shape[axis] = size
    return th.reshape(value, tuple(shape))


@eager
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, the statistics being vectors
    along ``axis``."""
    x = th.as_tensor_variable(x)
    mean, variance = th.as_tensor_variable(mean), th.as_tensor_variable(variance)
    axis = axis % x.ndim
    size = mean.type.shape[0] if mean.type.shape[0] is not None else mean.shape[0]
    inv = 1.0 / th.sqrt(_along(variance, axis, x.ndim, size) + epsilon)
    if scale is not None:
        inv = inv * _along(scale, axis, x.ndim, size)
    result = x * inv - _along(mean, axis, x.ndim, size) * inv
    if offset is not None:
        result = result + _along(offset, axis, x.ndim, size)
    return th.cast(result, x.dtype)


def _compute(x):
    x = th.as_tensor_variable(x)
    return x, (x.dtype if x.dtype in ("float32", "float64") else "float32")


def _broadcast_params(value, x, axes: list[int], dtype: str):
    value = th.cast(value, dtype)
    if value.ndim != x.ndim and axes != [x.ndim - 1]:
        shape = [1] * x.ndim
        for axis in axes:
            shape[axis] = x.type.shape[axis] if x.type.shape[axis] is not None else x.shape[axis]
        value = th.reshape(value, tuple(shape))
    return value


@eager
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalize ``x`` to zero mean and unit variance over ``axis`` (an int or a list), then scale by
    ``gamma`` and shift by ``beta`` (Keras' formula, in float32 or wider)."""
    if kwargs.pop("rms_scaling", False):
        raise ValueError("ops.layer_normalization: rms_scaling is deprecated in Keras; use ops.rms_normalization")
    if kwargs:
        raise TypeError(f"ops.layer_normalization: unexpected arguments {sorted(kwargs)}")
    x, dtype = _compute(x)
    work = th.cast(x, dtype)
    axes = sorted(a % x.ndim for a in ([axis] if isinstance(axis, int) else axis))
    mean, variance = moments(work, axes, keepdims=True)
    inv = 1.0 / th.sqrt(variance + _epsilon(epsilon))
    if gamma is not None:
        inv = inv * _broadcast_params(gamma, x, axes, dtype)
    shift = -mean * inv
    if beta is not None:
        shift = shift + _broadcast_params(beta, x, axes, dtype)
    return th.cast(work * inv + shift, x.dtype)


@eager
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x * rsqrt(mean(x^2, axis) + epsilon) * scale`` (root-mean-square normalization)."""
    x, dtype = _compute(x)
    work = th.cast(x, dtype)
    if work.ndim == 0:
        work = th.expand_dims(work, 0)
    axes = sorted(axis) if isinstance(axis, (list, tuple)) else axis
    out = work / th.sqrt(th.mean(th.square(work), axis=axes, keepdims=True) + _epsilon(epsilon))
    if scale is not None:
        out = out * th.cast(scale, dtype)
    return th.cast(out, x.dtype)


@eager
def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis`` (at least ``epsilon``)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"ops.normalize: order must be an int >= 1. Received: order={order!r}")
    x = th.as_tensor_variable(x)
    if x.ndim == 0:
        x = th.expand_dims(x, 0)
    epsilon = _epsilon(epsilon)
    if order == 2:
        inverse = 1.0 / th.sqrt(th.sum(th.square(x), axis=axis, keepdims=True))
        return x * th.minimum(inverse, 1.0 / epsilon)
    return x / th.maximum(th.norm(x, ord=order, axis=axis, keepdims=True), epsilon)


@eager
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """1 at every class index listed in each row of ``inputs`` (Keras' ``multi_hot``)."""
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs:
        raise TypeError(f"ops.multi_hot: unexpected arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("ops.multi_hot: num_classes is required")
    if sparse:
        raise ValueError("ops.multi_hot: sparse=True is not supported by theanine")
    x = th.cast(inputs, "int64")
    encoded = th.one_hot(x, num_classes, dtype or config.floatx())
    if axis not in (-1, encoded.ndim - 1):
        encoded = th.moveaxis(encoded, -1, axis)
    return th.max(encoded, axis=1 if x.ndim > 1 else 0)


@eager
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio: ``20 log10(max_val) - 10 log10(mean((x1 - x2)^2))``."""
    x1, x2 = th.as_tensor_variable(x1), th.as_tensor_variable(x2)
    if builtins.all(d is not None for d in x1.type.shape + x2.type.shape) and x1.type.shape != x2.type.shape:
        raise ValueError(f"ops.psnr: input shapes {x1.type.shape} and {x2.type.shape} must match")
    mse = th.mean(th.square(x1 - x2))
    return 20 * th.log10(th.cast(max_val, x2.dtype)) - 10 * th.log10(mse)


def _large_negative(dtype: str) -> float:
    return (65500.0 if dtype == "float16" else 3.38953e38) * -0.7


@eager
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention over ``(batch, seq, heads, dim)`` tensors (Keras' formula:
    logits ``scale * q.k`` plus ``bias``, soft-capped, masked, softmax in float32 or wider)."""
    if flash_attention:
        raise ValueError("ops.dot_product_attention: flash attention is not supported by theanine")
    query, key, value = (th.as_tensor_variable(v) for v in (query, key, value))
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(
            "ops.dot_product_attention only supports 4D inputs. Received: "
            f"query {query.type}, key {key.type}, value {value.type}"
        )
    dtype = np.result_type(query.dtype, key.dtype, value.dtype).name
    query, key, value = (th.cast(v, dtype) for v in (query, key, value))
    depth = key.type.shape[-1] if key.type.shape[-1] is not None else th.cast(key.shape[-1], dtype)
    scale = 1.0 / th.sqrt(th.cast(depth, dtype)) if scale is None else scale
    logits = th.einsum("btnh,bsnh->bnts", query, key) * scale
    if bias is not None:
        logits = logits + th.cast(bias, dtype)
    if attn_logits_soft_cap is not None:
        logits = attn_logits_soft_cap * th.tanh(logits / attn_logits_soft_cap)
    keep = None if mask is None else th.cast(mask, "bool")
    if is_causal:
        causal = th.tril(th.ones((logits.shape[2], logits.shape[3]), dtype="bool"))
        keep = causal if keep is None else th.logical_and(keep, causal)
    if keep is not None:
        logits = th.where(keep, logits, th.constant(_large_negative(dtype), dtype=dtype))
    softmax_dtype = "float32" if dtype == "float16" else dtype
    probs = th.cast(th.softmax(th.cast(logits, softmax_dtype), axis=-1), dtype)
    return th.einsum("bnts,bsnh->btnh", probs, value)


sparsemax = eager(activations.sparsemax)
"""Keras' ``ops.sparsemax``: ``activations.sparsemax`` on tensors or arrays."""


@eager
def in_top_k(targets, predictions, k: int):
    """Whether each ``targets[i]`` is among the ``k`` largest of ``predictions[i]`` (ties count)."""
    predictions = th.as_tensor_variable(predictions)
    targets = th.cast(targets, "int64")
    kth = th.top_k(predictions, k)[0][:, -1:]
    chosen = th.take_along_axis(predictions, th.expand_dims(targets, -1), axis=-1)
    return th.any(th.ge(chosen, kth), axis=-1)


def _spatial(x, what: str):
    x = th.as_tensor_variable(x)
    if x.ndim != 4:
        raise ValueError(f"ops.{what}: x must be a 4D image batch. Received: {x.type}")
    return x, [x.type.shape[i] if x.type.shape[i] is not None else x.shape[i] for i in range(4)]


@eager
def depth_to_space(x, block_size: int, data_format: str = "channels_last"):
    """Move ``block_size x block_size`` blocks of channels into space (pixel shuffle)."""
    x, (n, a, b, c) = _spatial(x, "depth_to_space")
    s = int(block_size)
    if _format(data_format) == "channels_last":
        x = th.reshape(x, (n, a, b, s, s, c // (s * s)))
        return th.reshape(th.transpose(x, (0, 1, 3, 2, 4, 5)), (n, a * s, b * s, c // (s * s)))
    channels, h, w = a, b, c
    x = th.reshape(x, (n, channels // (s * s), s, s, h, w))
    return th.reshape(th.transpose(x, (0, 1, 4, 2, 5, 3)), (n, channels // (s * s), h * s, w * s))


@eager
def space_to_depth(x, block_size: int, data_format: str = "channels_last"):
    """Move ``block_size x block_size`` spatial blocks into channels (pixel unshuffle)."""
    x, (n, a, b, c) = _spatial(x, "space_to_depth")
    s = int(block_size)
    if _format(data_format) == "channels_last":
        x = th.reshape(x, (n, a // s, s, b // s, s, c))
        return th.reshape(th.transpose(x, (0, 1, 3, 2, 4, 5)), (n, a // s, b // s, c * s * s))
    channels, h, w = a, b, c
    x = th.reshape(x, (n, channels, h // s, s, w // s, s))
    return th.reshape(th.transpose(x, (0, 1, 3, 5, 2, 4)), (n, channels * s * s, h // s, w // s))


@eager
def gelu(x, approximate: bool = True):
    """GELU; Keras' ``ops.gelu`` defaults to the tanh approximation (``activations.gelu`` does not)."""
    from theanine.frontend import activations

    return activations.gelu(th.as_tensor_variable(x), approximate)

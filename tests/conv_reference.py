"""Convolution and pooling by their definitions: explicit loops over small shapes, in float64.

Written apart from the ops' im2col/col2im code (graph/ops/conv_numpy.py) so
the op table checks one against the other.  Arrays are channels-last;
``pads`` holds one ``(lo, hi)`` pair per spatial axis.  Padding rules are
restated from their sources: TensorFlow's "SAME" (``ceil(n / s)`` outputs,
the odd unit at the end) and, for transposed convolutions, the crop of
Keras' JAX backend (``_convert_conv_transpose_padding_args_from_keras_to_jax``).
"""

from __future__ import annotations

import math

import numpy as np


def same_pads(sizes, kernel, strides, dilation) -> list[tuple[int, int]]:
    """TensorFlow's SAME padding."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        effective = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + effective - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _out_sizes(padded, kernel, strides, dilation):
    return [(p - (k - 1) * d - 1) // s + 1 for p, k, s, d in zip(padded, kernel, strides, dilation, strict=True)]


def conv(x, kernel, strides, pads, dilation, groups=1) -> np.ndarray:
    """``out[n, o, g-block] = sum over taps a of xp[n, o * s + a * d, g-block] @ kernel[a, :, g-block]``."""
    rank = kernel.ndim - 2
    xp = np.pad(x.astype("float64"), [(0, 0), *pads, (0, 0)])
    taps, per_group_in, out_channels = kernel.shape[:rank], kernel.shape[-2], kernel.shape[-1]
    per_group_out = out_channels // groups
    outs = _out_sizes(xp.shape[1:-1], taps, strides, dilation)
    out = np.zeros((x.shape[0], *outs, out_channels))
    for o in np.ndindex(*outs):
        for a in np.ndindex(*taps):
            position = tuple(o[i] * strides[i] + a[i] * dilation[i] for i in range(rank))
            for g in range(groups):
                ins, outs_g = slice(g * per_group_in, (g + 1) * per_group_in), slice(g * per_group_out,
                                                                                    (g + 1) * per_group_out)
                out[(slice(None), *o, outs_g)] += xp[(slice(None), *position, ins)] @ kernel[(*a, slice(None), outs_g)]
    return out.astype(x.dtype)


def conv_transpose(x, kernel, strides, crops, dilation, groups=1) -> np.ndarray:
    """Scatter each input position through the kernel, then crop ``(lo, hi)`` (a negative ``hi`` extends).

    ``kernel`` is the transposed layout ``(*K, out // groups, in)``.
    """
    rank = kernel.ndim - 2
    taps, per_group_out, in_channels = kernel.shape[:rank], kernel.shape[-2], kernel.shape[-1]
    per_group_in = in_channels // groups
    full = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(x.shape[1:-1], taps, strides, dilation, strict=True)]
    out = np.zeros((x.shape[0], *full, per_group_out * groups))
    for o in np.ndindex(*x.shape[1:-1]):
        for a in np.ndindex(*taps):
            position = tuple(o[i] * strides[i] + a[i] * dilation[i] for i in range(rank))
            for g in range(groups):
                ins, outs = slice(g * per_group_in, (g + 1) * per_group_in), slice(g * per_group_out,
                                                                                  (g + 1) * per_group_out)
                out[(slice(None), *position, outs)] += x[(slice(None), *o, ins)] @ kernel[(*a, slice(None), ins)].T
    out = np.pad(out, [(0, 0), *((0, max(-hi, 0)) for _, hi in crops), (0, 0)])
    index = tuple(slice(lo, out.shape[1 + i] - max(hi, 0)) for i, (lo, hi) in enumerate(crops))
    return out[(slice(None), *index, slice(None))].astype(x.dtype)


def keras_transpose_crops(kernel_sizes, strides, dilation, padding, output_padding=None):
    """Keras' JAX-backend padding of a transposed convolution, as crops of the full output."""
    crops = []
    for axis, (k, s, d) in enumerate(zip(kernel_sizes, strides, dilation, strict=True)):
        effective = (k - 1) * d + 1
        extra = None if output_padding is None else output_padding[axis]
        if padding == "valid":
            extra = max(effective, s) - effective if extra is None else extra
            left, right = effective - 1, effective - 1 + extra
        else:
            pad_len = s + effective - 2 if extra is None else effective + effective % 2 - 2 + extra
            left = min(pad_len // 2 + pad_len % 2, effective - 1)
            right = pad_len - left
        crops.append((effective - 1 - left, effective - 1 - right))
    return crops


def keras_transpose_length(n, k, s, d, padding, output_padding=None):
    """Keras' ``compute_conv_transpose_output_shape`` for one axis."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def max_pool(x, pool, strides, pads, dilation) -> np.ndarray:
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min)
    outs = _out_sizes(xp.shape[1:-1], pool, strides, dilation)
    out = np.empty((x.shape[0], *outs, x.shape[-1]), dtype=x.dtype)
    for o in np.ndindex(*outs):
        values = [xp[(slice(None), *(o[i] * strides[i] + a[i] * dilation[i] for i in range(len(pool))))]
                  for a in np.ndindex(*pool)]
        out[(slice(None), *o)] = np.max(values, axis=0)
    return out


def average_pool(x, pool, strides, pads, dilation, count_include_pad) -> np.ndarray:
    rank = len(pool)
    xp = np.pad(x.astype("float64"), [(0, 0), *pads, (0, 0)])
    inside = np.pad(np.ones(x.shape[1:-1]), pads)
    outs = _out_sizes(xp.shape[1:-1], pool, strides, dilation)
    out = np.empty((x.shape[0], *outs, x.shape[-1]))
    for o in np.ndindex(*outs):
        positions = [tuple(o[i] * strides[i] + a[i] * dilation[i] for i in range(rank)) for a in np.ndindex(*pool)]
        total = sum(xp[(slice(None), *p)] for p in positions)
        count = len(positions) if count_include_pad else sum(inside[p] for p in positions)
        out[(slice(None), *o)] = total / count
    return out.astype(x.dtype)

"""Pooling as users call it (``keras.ops`` names and arguments): max_pool and average_pool.

The spatial rank is the input's rank minus 2.  ``strides`` defaults to
``pool_size`` (Keras); ``padding`` is ``"valid"``, ``"same"`` (padding
never enters a maximum or an average, as in Keras/TensorFlow) or explicit
``((lo, hi), ...)`` pairs; ``dilation`` spaces a window's taps (ONNX's
``dilations``).

``average_pool`` is a sum over each window -- a convolution with a kernel
of ones, with the channels moved to the batch axis -- divided by the
number of entries the window covers: the input entries only (Keras;
``count_include_pad=False``) or every entry, padding included (ONNX's
``count_include_pad=1``).  Its gradients are therefore those of ``Conv``.
Global pooling is a reduction: ``th.max(x, axis=spatial_axes)``,
``th.mean(...)``.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.graph.ops.conv import Conv
from theanine.graph.ops.conv_geometry import (
    check_data_format,
    check_windows,
    describe,
    from_channels_last,
    int_tuple,
    pads_vector,
    resolve_padding,
    spatial_sizes,
    to_channels_last,
    where_built,
)
from theanine.graph.ops.creation import ones
from theanine.graph.ops.dimshuffle import transpose
from theanine.graph.ops.pool import MaxPool
from theanine.graph.ops.reshape import reshape
from theanine.graph.ops.shape_values import axis_size
from theanine.graph.tensor import as_tensor_variable, constant
from theanine.graph.type import is_float

__all__ = ["max_pool", "average_pool"]


def _window(what: str, x, pool_size, strides, dilation, data_format):
    """The input, its spatial rank and the window arguments as tuples (``strides`` defaults to the pool)."""
    x = as_tensor_variable(x)
    check_data_format(data_format)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            f"{what}: pooling takes inputs of rank 3, 4 or 5 (batch, 1 to 3 spatial axes, channels). "
            f"Received: input of shape {describe(x)}{where_built()}"
        )
    shapes = f" for an input of shape {describe(x)}"
    pool_size = int_tuple(pool_size, rank, "pool_size", shapes=shapes)
    strides = pool_size if strides is None else int_tuple(strides, rank, "strides", shapes=shapes)
    return x, pool_size, strides, int_tuple(dilation, rank, "dilation", shapes=shapes)


def _padding(what: str, x, padding, pool_size, strides, dilation):
    """The pairs of ``padding`` for channels-last ``x``, windows checked against the input."""
    pairs = resolve_padding(padding, spatial_sizes(x), pool_size, strides, dilation)
    check_windows(what, spatial_sizes(x), pairs, pool_size, dilation,
                  f"input of shape {describe(x)} (channels last), pool_size={pool_size}")
    return pairs


def max_pool(x, pool_size, strides=None, padding="valid", data_format="channels_last", dilation=1):
    """The maximum over each window, as ``keras.ops.max_pool`` (any dtype)."""
    x, pool_size, strides, dilation = _window("max_pool", x, pool_size, strides, dilation, data_format)
    channels_last = to_channels_last(x, data_format)
    pairs = _padding("max_pool", channels_last, padding, pool_size, strides, dilation)
    out = MaxPool(pool_size, strides, dilation)(channels_last, pads_vector(pairs))
    return from_channels_last(out, data_format)


def average_pool(x, pool_size, strides=None, padding="valid", data_format="channels_last",
                 count_include_pad=False, dilation=1):
    """The mean over each window, as ``keras.ops.average_pool`` (see the module docstring)."""
    x, pool_size, strides, dilation = _window("average_pool", x, pool_size, strides, dilation, data_format)
    if not is_float(x.dtype):
        raise TypeError(f"average_pool: the input must be a float tensor. Received: {x.type}{where_built()}")
    channels_last = to_channels_last(x, data_format)
    pairs = _padding("average_pool", channels_last, padding, pool_size, strides, dilation)
    sum_pool = Conv(strides, dilation, 1)
    ones_kernel = constant(np.ones((*pool_size, 1, 1), dtype=x.dtype))
    sums = _per_channel(channels_last, lambda images: sum_pool(images, ones_kernel, pads_vector(pairs)))
    if count_include_pad:
        counts = constant(np.asarray(math.prod(pool_size), dtype=x.dtype))
    else:
        covered = ones((1, *spatial_sizes(channels_last), 1), dtype=x.dtype)
        counts = sum_pool(covered, ones_kernel, pads_vector(pairs))
    return from_channels_last(sums / counts, data_format)


def _per_channel(x, pool):
    """``pool`` applied to each channel of channels-last ``x`` as a one-channel image of its own."""
    n, channels, sizes = axis_size(x, 0), axis_size(x, x.ndim - 1), spatial_sizes(x)
    images = transpose(x, (0, x.ndim - 1, *range(1, x.ndim - 1)))
    pooled = pool(reshape(images, (n * channels, *sizes, 1)))
    pooled = reshape(pooled, (n, channels, *spatial_sizes(pooled)))
    return transpose(pooled, (0, *range(2, pooled.ndim), 1))

"""Keras' ``ops.unfold`` (im2col) and ``ops.fold`` (col2im), channels-first as in PyTorch.

``unfold`` takes an ``(N, C, H, W)`` image to ``(N, C * kH * kW, L)``: each
column is one window, flattened channel-major (``c``, then kernel row, then
kernel column), windows in row-major order.  ``fold`` is its adjoint: it adds
every column back into its window, so overlapping windows sum.  Both are
built from one strided slice per kernel tap, so gradients flow through the
ordinary slicing ops.  Spatial sizes must be static (they fix ``L``).
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops.eager import eager

__all__ = ["fold", "unfold"]


def _pair(name: str, value) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"ops.fold/unfold: {name} must be an int or a tuple of two ints. Received: {name}={value!r}")
    return pair


def _geometry(size, kernel_size, dilation, padding, stride):
    """``(kernel, dilation, padding, stride, blocks)``, each a pair; ``blocks`` per spatial axis."""
    kernel, dilation = _pair("kernel_size", kernel_size), _pair("dilation", dilation)
    padding, stride = _pair("padding", padding), _pair("stride", stride)
    blocks = tuple((size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2))
    if min(blocks) < 1:
        raise ValueError(f"ops.fold/unfold: a {kernel} kernel with dilation {dilation} does not fit a "
                         f"{tuple(size)} image padded by {padding}")
    return kernel, dilation, padding, stride, blocks


def _tap(i: int, j: int, dilation, stride, blocks) -> tuple[slice, slice]:
    """The strided slices of the padded image that kernel tap ``(i, j)`` reads."""
    top, left = i * dilation[0], j * dilation[1]
    return (slice(top, top + stride[0] * (blocks[0] - 1) + 1, stride[0]),
            slice(left, left + stride[1] * (blocks[1] - 1) + 1, stride[1]))


@eager
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding windows of an ``(N, C, H, W)`` tensor as the columns of ``(N, C*kH*kW, L)``."""
    x = th.as_tensor_variable(x)
    if x.ndim != 4 or None in x.type.shape[1:]:
        raise ValueError(f"ops.unfold expects an (N, C, H, W) tensor with static C, H and W. Received: {x.type}")
    kernel, dilation, padding, stride, blocks = _geometry(x.type.shape[2:], kernel_size, dilation, padding, stride)
    padded = th.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    taps = [padded[(slice(None), slice(None), *_tap(i, j, dilation, stride, blocks))]
            for i in range(kernel[0]) for j in range(kernel[1])]
    channels = x.type.shape[1]
    stacked = th.stack(taps, axis=2)  # (N, C, kH*kW, bH, bW)
    return th.reshape(stacked, (x.shape[0], channels * len(taps), blocks[0] * blocks[1]))


@eager
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The ``(N, C, oH, oW)`` image whose windows sum the columns of ``(N, C*kH*kW, L)``."""
    x = th.as_tensor_variable(x)
    size = _pair("output_size", output_size)
    kernel, dilation, padding, stride, blocks = _geometry(size, kernel_size, dilation, padding, stride)
    taps = kernel[0] * kernel[1]
    if x.ndim != 3 or x.type.shape[1] is None or x.type.shape[1] % taps:
        raise ValueError(f"ops.fold expects an (N, C * {taps}, L) tensor with a static second axis "
                         f"divisible by kH*kW = {taps}. Received: {x.type}")
    if x.type.shape[2] not in (None, blocks[0] * blocks[1]):
        raise ValueError(f"ops.fold: output_size {size} with this kernel has {blocks[0] * blocks[1]} blocks, "
                         f"but x has L = {x.type.shape[2]}")
    channels = x.type.shape[1] // taps
    columns = th.reshape(x, (x.shape[0], channels, taps, blocks[0], blocks[1]))
    image = th.zeros((x.shape[0], channels, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=x.dtype)
    for tap in range(taps):
        window = (slice(None), slice(None), *_tap(tap // kernel[1], tap % kernel[1], dilation, stride, blocks))
        image = th.inc_subtensor(image[window], columns[:, :, tap])
    return image[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]

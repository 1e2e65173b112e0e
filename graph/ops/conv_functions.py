"""Convolutions as users call them (``keras.ops`` names and arguments): conv, conv_transpose,
depthwise_conv, separable_conv.

The spatial rank (1, 2 or 3) comes from the kernel, laid out as Keras'
``(*spatial, in_channels // groups, out_channels)`` whatever the
``data_format``; ``"channels_first"`` inputs are transposed to the ops'
channels-last layout and back (free views).  Arguments are checked here,
against the shapes the user passed, so errors name those shapes.

``conv_transpose`` takes Keras' transposed kernel ``(*spatial,
out_channels // groups, in_channels)`` -- the kernel of the convolution it
transposes -- and follows Keras' output size rules for ``"valid"`` and
``"same"`` (``output_padding`` included; the values are the TensorFlow
and JAX backends') and ONNX's for explicit pads: ``stride * (in - 1) +
output_padding + (kernel - 1) * dilation + 1 - lo - hi``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.conv_geometry import (
    check_windows,
    describe,
    explicit_pairs,
    from_channels_last,
    int_tuple,
    pads_vector,
    resolve_padding,
    spatial_sizes,
    to_channels_last,
    where_built,
    window_span,
)
from theanine.graph.ops.math import cast
from theanine.graph.ops.reshape import reshape
from theanine.graph.ops.shape_values import as_shape_vector, axis_size
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import is_float

__all__ = ["conv", "conv_transpose", "depthwise_conv", "separable_conv"]


def _operands(what: str, x, kernel):
    """``x`` and ``kernel`` as float tensors of one dtype, with ranks that fit one spatial rank."""
    x, kernel = as_tensor_variable(x), as_tensor_variable(kernel)
    if not (is_float(x.dtype) and is_float(kernel.dtype)):
        raise TypeError(
            f"{what}: the input and kernel must be float tensors. Received: input of type {x.type}, "
            f"kernel of type {kernel.type}{where_built()}"
        )
    dtype = np.result_type(x.dtype, kernel.dtype).name
    x, kernel = (v if v.dtype == dtype else cast(v, dtype) for v in (x, kernel))
    if kernel.ndim not in (3, 4, 5) or x.ndim != kernel.ndim:
        raise ValueError(
            f"{what}: the kernel must have rank 3, 4 or 5 ((*spatial, in, out) for 1 to 3 spatial axes) and "
            f"the input the same rank (batch, *spatial, channels). Received: input of shape {describe(x)}, "
            f"kernel of shape {describe(kernel)}{where_built()}"
        )
    return x, kernel


def _shapes(x, kernel) -> str:
    return f" for an input of shape {describe(x)} and a kernel of shape {describe(kernel)}"


def _channel_axis(data_format: str) -> int:
    return 1 if data_format == "channels_first" else -1


def _positive_groups(what: str, x, kernel, groups) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(
            f"{what}: expected groups to be a positive int. Received: groups={groups!r}{_shapes(x, kernel)}"
            f"{where_built()}"
        )
    return int(groups)


def _check_groups(x, kernel, groups, data_format: str) -> int:
    """``groups`` must be a positive int with ``groups * kernel in-channels == input channels``."""
    groups = _positive_groups("conv", x, kernel, groups)
    channels = x.type.shape[_channel_axis(data_format)]
    per_group = kernel.type.shape[-2]
    if channels is not None and per_group is not None and channels != per_group * groups:
        raise ValueError(
            f"conv: the input has {channels} channels but the kernel expects {per_group * groups} "
            f"({per_group} per group x {groups} groups). Received: input of shape {describe(x)} "
            f"({data_format}), kernel of shape {describe(kernel)}{where_built()}"
        )
    return groups


def _check_transpose_groups(x, kernel, groups, data_format: str) -> int:
    """The input's channels must be the kernel's last axis, which ``groups`` divides."""
    groups = _positive_groups("conv_transpose", x, kernel, groups)
    channels, in_channels = x.type.shape[_channel_axis(data_format)], kernel.type.shape[-1]
    if channels is not None and in_channels is not None and channels != in_channels:
        raise ValueError(
            f"conv_transpose: the input has {channels} channels but the kernel maps from {in_channels} (a "
            f"transposed kernel is (*spatial, out_channels // groups, in_channels)). Received: input of shape "
            f"{describe(x)} ({data_format}), kernel of shape {describe(kernel)}{where_built()}"
        )
    if in_channels is not None and in_channels % groups:
        raise ValueError(
            f"conv_transpose: the kernel's {in_channels} input channels do not split into {groups} groups. "
            f"Received:{_shapes(x, kernel)}{where_built()}"
        )
    return groups


def conv(x, kernel, strides=1, padding="valid", dilation=1, groups=1, data_format="channels_last"):
    """N-D convolution (cross-correlation), as ``keras.ops.conv`` with ``groups`` as in ``Conv2D``.

    ``padding`` is ``"valid"``, ``"same"`` or explicit ``((lo, hi), ...)``
    pairs, one per spatial axis.
    """
    x, kernel = _operands("conv", x, kernel)
    rank, shapes = kernel.ndim - 2, _shapes(x, kernel)
    strides = int_tuple(strides, rank, "strides", shapes=shapes)
    dilation = int_tuple(dilation, rank, "dilation", shapes=shapes)
    groups = _check_groups(x, kernel, groups, data_format)
    channels_last = to_channels_last(x, data_format)
    sizes, kernel_sizes = spatial_sizes(channels_last), [axis_size(kernel, a) for a in range(rank)]
    pairs = resolve_padding(padding, sizes, kernel_sizes, strides, dilation)
    check_windows("conv", sizes, pairs, kernel_sizes, dilation, shapes.removeprefix(" for "))
    out = Conv(strides, dilation, groups)(channels_last, kernel, pads_vector(pairs))
    return from_channels_last(out, data_format)


def _transpose_pads(padding, output_padding, kernel_sizes, strides, dilation, shapes: str) -> list[tuple]:
    """Per spatial axis, the ``(lo, hi)`` cropped from the full transposed output (negative: extended)."""
    rank = len(strides)
    padding_is_mode = isinstance(padding, str) and padding.lower() in ("valid", "same")
    extra = None if output_padding is None else int_tuple(output_padding, rank, "output_padding", 0, shapes)
    if not padding_is_mode:
        return [(lo, hi - (0 if extra is None else e))
                for (lo, hi), e in zip(explicit_pairs(padding, rank), extra or [0] * rank, strict=True)]
    pairs = []
    for axis, (k, s, d) in enumerate(zip(kernel_sizes, strides, dilation, strict=True)):
        span = window_span(k, d)
        e = None if extra is None else extra[axis]
        if padding.lower() == "valid":
            left, right = span - 1, span - 1 + (max(span, s) - span if e is None else e)
        else:
            total = s + span - 2 if e is None else span + span % 2 - 2 + e
            left = min(total // 2 + total % 2, span - 1)
            right = total - left
        pairs.append((span - 1 - left, span - 1 - right))
    return pairs


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation=1, groups=1,
                   data_format="channels_last"):
    """N-D transposed convolution, as ``keras.ops.conv_transpose`` (see the module docstring).

    ``kernel`` is ``(*spatial, out_channels // groups, in_channels)``.
    """
    x, kernel = _operands("conv_transpose", x, kernel)
    rank, shapes = kernel.ndim - 2, _shapes(x, kernel)
    strides = int_tuple(strides, rank, "strides", shapes=shapes)
    dilation = int_tuple(dilation, rank, "dilation", shapes=shapes)
    groups = _check_transpose_groups(x, kernel, groups, data_format)
    kernel_sizes = kernel.type.shape[:rank]
    if None in kernel_sizes:
        raise ValueError(
            f"conv_transpose: the kernel's spatial sizes must be static (they fix the output size). "
            f"Received:{shapes}{where_built()}"
        )
    pairs = _transpose_pads(padding, output_padding, kernel_sizes, strides, dilation, shapes)
    channels_last = to_channels_last(x, data_format)
    sizes = [
        (o - 1) * s + window_span(k, d) - lo - hi
        for o, k, s, d, (lo, hi) in zip(spatial_sizes(channels_last), kernel_sizes, strides, dilation, pairs,
                                        strict=True)
    ]
    if any(isinstance(n, int) and n < 1 for n in sizes):
        raise ValueError(
            f"conv_transpose: padding={padding!r} leaves output sizes {sizes}; each must be >= 1. "
            f"Received:{shapes}{where_built()}"
        )
    op = ConvTranspose(strides, dilation, groups)
    out = op(channels_last, kernel, as_shape_vector(sizes, "conv_transpose"), pads_vector(pairs))
    return from_channels_last(out, data_format)


def depthwise_conv(x, kernel, strides=1, padding="valid", dilation=1, data_format="channels_last"):
    """Depthwise convolution, as ``keras.ops.depthwise_conv``: kernel ``(*spatial, in_channels, multiplier)``.

    Output channel ``c * multiplier + m`` is input channel ``c`` convolved
    with ``kernel[..., c, m]`` (a grouped ``conv`` with one group per channel).
    """
    x, kernel = _operands("depthwise_conv", x, kernel)
    in_channels, multiplier = kernel.type.shape[-2:]
    if in_channels is None or multiplier is None:
        raise ValueError(
            f"depthwise_conv: the kernel's channel sizes must be static. Received:{_shapes(x, kernel)}{where_built()}"
        )
    grouped = reshape(kernel, (*kernel.type.shape[:-2], 1, in_channels * multiplier))
    return conv(x, grouped, strides, padding, dilation, in_channels, data_format)


def separable_conv(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", dilation=1,
                   data_format="channels_last"):
    """A depthwise convolution followed by a pointwise (1x1) one, as ``keras.ops.separable_conv``."""
    depthwise = depthwise_conv(x, depthwise_kernel, strides, padding, dilation, data_format)
    return conv(depthwise, pointwise_kernel, 1, "valid", 1, 1, data_format)

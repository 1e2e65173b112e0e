"""ONNX Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool as theanine's
window ops with ``data_format="channels_first"`` (ONNX's layout; the kernels are transposed to Keras').

Translations of ONNX rules that the ops do not have as such:

- ``auto_pad="SAME_LOWER"``: explicit pads, the odd unit at the start.
- ``ceil_mode=1``: extra padding at the end for the last, partial window
  (dropped when it would start in the end padding, as ONNX says); it never
  wins a maximum and, with ``count_include_pad=0``, never counts.  With
  ``count_include_pad=1`` the explicit pads are zeros of the input
  (``th.pad``), so they count and the ceil overhang does not.
- ``ConvTranspose(output_shape=...)``: ONNX's ``total_padding`` split; a
  negative end pad (the output is longer than the full transposed result)
  becomes extra ``output_padding``.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports


def _pairs(pads, rank):
    return [(pads[i], pads[i + rank]) for i in range(rank)]


def _same_pairs(sizes, kernel, strides, dilation, upper: bool):
    pairs = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if upper else (large, small))
    return pairs


def _window_options(attrs, sizes, kernel):
    """strides, dilation and padding (pairs or "same"/"valid") of a windowed ONNX node."""
    rank = len(kernel)
    strides = tuple(attrs.get("strides", [1] * rank))
    dilation = tuple(attrs.get("dilations", [1] * rank))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        padding = _pairs(attrs.get("pads", [0] * 2 * rank), rank)
    elif auto_pad == "VALID":
        padding = [(0, 0)] * rank
    elif None in sizes:
        raise Unsupported(f"auto_pad={auto_pad} on spatial sizes known only at run time")
    else:
        padding = _same_pairs(sizes, kernel, strides, dilation, auto_pad == "SAME_UPPER")
    return strides, dilation, padding


def _ceil_overhang(sizes, kernel, strides, dilation, padding):
    """Extra end padding that ``ceil_mode`` adds for a last, partial window."""
    extra = []
    for n, k, s, d, (lo, hi) in zip(sizes, kernel, strides, dilation, padding, strict=True):
        span = (k - 1) * d + 1
        count = -(-(n + lo + hi - span) // s) + 1
        if (count - 1) * s >= n + lo:
            count -= 1
        extra.append(max((count - 1) * s + span - (n + lo + hi), 0))
    return extra


@imports("Conv")
def _conv(ctx, node, args, attrs):
    x, w, *bias = [a for a in args if a is not None]
    if None in w.type.shape[2:]:
        raise Unsupported("the kernel's spatial shape must be static")
    kernel = th.transpose(w, (*range(2, w.ndim), 1, 0))
    strides, dilation, padding = _window_options(attrs, x.type.shape[2:], w.type.shape[2:])
    y = th.conv(x, kernel, strides, padding, dilation, attrs.get("group", 1), "channels_first")
    return [y + th.reshape(bias[0], (1, -1) + (1,) * (x.ndim - 2)) if bias else y]


@imports("ConvTranspose")
def _conv_transpose(ctx, node, args, attrs):
    x, w, *bias = [a for a in args if a is not None]
    rank = x.ndim - 2
    kernel = th.transpose(w, (*range(2, w.ndim), 1, 0))
    sizes, taps = x.type.shape[2:], w.type.shape[2:]
    strides = tuple(attrs.get("strides", [1] * rank))
    dilation = tuple(attrs.get("dilations", [1] * rank))
    extra = list(attrs.get("output_padding", [0] * rank))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    wanted = attrs.get("output_shape")
    if wanted is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [n * s for n, s in zip(sizes, strides, strict=True)]
    if wanted is None:
        padding = _pairs(attrs.get("pads", [0] * 2 * rank), rank)
    else:
        padding = []
        for axis, (n, k, s, d, target) in enumerate(zip(sizes, taps, strides, dilation, wanted, strict=True)):
            total = s * (n - 1) + extra[axis] + (k - 1) * d + 1 - target
            start, end = (total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2,
                                                                                            total // 2)
            extra[axis] += max(-end, 0)
            padding.append((start, max(end, 0)))
    y = th.conv_transpose(x, kernel, strides, padding, extra, dilation, attrs.get("group", 1), "channels_first")
    return [y + th.reshape(bias[0], (1, -1) + (1,) * rank) if bias else y]


@imports("MaxPool", "AveragePool")
def _pool(ctx, node, args, attrs):
    x = args[0]
    kernel = tuple(attrs["kernel_shape"])
    sizes = x.type.shape[2:]
    strides, dilation, padding = _window_options(attrs, sizes, kernel)
    overhang = _ceil_overhang(sizes, kernel, strides, dilation, padding) if attrs.get("ceil_mode") else [0] * len(
        kernel)
    if node.op_type == "MaxPool":
        padding = [(lo, hi + e) for (lo, hi), e in zip(padding, overhang, strict=True)]
        values = th.max_pool(x, kernel, strides, padding, "channels_first", dilation)
        if len(node.output) > 1 and node.output[1]:
            return [values, _argmax_indices(x, kernel, strides, dilation, padding, attrs.get("storage_order", 0))]
        return [values]
    if attrs.get("count_include_pad") and any(overhang):
        x = th.pad(x, [(0, 0), (0, 0), *padding])
        padding = [(0, e) for e in overhang]
        return [th.average_pool(x, kernel, strides, padding, "channels_first", False, dilation)]
    padding = [(lo, hi + e) for (lo, hi), e in zip(padding, overhang, strict=True)]
    return [th.average_pool(x, kernel, strides, padding, "channels_first", bool(attrs.get("count_include_pad")),
                            dilation)]


def _tap_positions(sizes, kernel, strides, dilation, padding) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Where every tap of every window reads, known when the graph is built: the input coordinates
    ``(windows, taps, rank)`` (windows and taps in C order) clipped into the input, whether each is
    inside it, and the number of windows along each axis."""
    counts = [(n + lo + hi - d * (k - 1) - 1) // s + 1
              for n, k, s, d, (lo, hi) in zip(sizes, kernel, strides, dilation, padding, strict=True)]

    def grid(extents):
        return np.stack(np.meshgrid(*(np.arange(e) for e in extents), indexing="ij"), -1).reshape(-1, len(extents))

    position = (grid(counts)[:, None, :] * np.asarray(strides) - np.asarray([lo for lo, _ in padding])
                + grid(kernel)[None, :, :] * np.asarray(dilation))
    inside = np.all((position >= 0) & (position < np.asarray(sizes)), axis=-1)
    return np.clip(position, 0, np.asarray(sizes) - 1), inside, counts


def _argmax_indices(x, kernel, strides, dilation, padding, column_major: int):
    """MaxPool's Indices output: for each window the flat NCHW position of its first maximum (the
    spatial part column-major with ``storage_order=1``).  The windows' input positions are known
    when the graph is built: one gather of every window's taps, then an argmax over them."""
    sizes = x.type.shape[2:]
    if None in sizes:
        raise Unsupported("the Indices output needs static spatial sizes")
    clipped, inside, counts = _tap_positions(sizes, kernel, strides, dilation, padding)
    flat = np.ravel_multi_index(tuple(np.moveaxis(clipped, -1, 0)), sizes)
    stored = flat if not column_major else np.ravel_multi_index(tuple(np.moveaxis(clipped, -1, 0)), sizes,
                                                                 order="F")
    planes = th.reshape(x, (th.shape(x)[0], th.shape(x)[1], -1))
    windows = th.take(planes, th.constant(flat), axis=2)
    lowest = th.constant(np.asarray(-np.inf if np.dtype(x.dtype).kind == "f" else np.iinfo(x.dtype).min, x.dtype))
    windows = th.where(th.constant(inside), windows, lowest)
    best = th.argmax(windows, axis=-1)
    chosen = th.take(th.constant(stored.ravel()), best + th.constant(np.arange(inside.shape[0]) * inside.shape[1]))
    size = int(np.prod(sizes))
    planes_before = th.reshape(th.arange(th.shape(x)[0] * th.shape(x)[1], dtype="int64"),
                               (th.shape(x)[0], th.shape(x)[1], 1)) * size
    return th.reshape(chosen + planes_before, (th.shape(x)[0], th.shape(x)[1], *counts))


@imports("GlobalAveragePool", "GlobalMaxPool")
def _global(ctx, node, args, attrs):
    x = args[0]
    reduce = th.max if node.op_type == "GlobalMaxPool" else th.mean
    return [reduce(x, axis=tuple(range(2, x.ndim)), keepdims=True)]


@imports("LpPool")
def _lp_pool(ctx, node, args, attrs):
    """``(sum of |x|**p over the window) ** (1/p)``, the padding counting as zeros: the window sums are
    averages over explicitly zero-padded windows, all of the kernel's size, times that size."""
    x = args[0]
    p = attrs.get("p", 2)
    kernel = tuple(attrs["kernel_shape"])
    sizes = x.type.shape[2:]
    strides, dilation, padding = _window_options(attrs, sizes, kernel)
    overhang = _ceil_overhang(sizes, kernel, strides, dilation, padding) if attrs.get("ceil_mode") else [0] * len(
        kernel)
    powered = th.power(th.abs(x), th.constant(np.asarray(p, dtype=x.dtype)))
    padded = th.pad(powered, [(0, 0), (0, 0), *((lo, hi + e) for (lo, hi), e in zip(padding, overhang, strict=True))])
    window_sum = th.average_pool(padded, kernel, strides, "valid", "channels_first", True, dilation) * float(
        np.prod(kernel))
    return [th.cast(th.power(window_sum, th.constant(np.asarray(1 / p, dtype=x.dtype))), x.dtype)]


@imports("Col2Im")
def _col2im(ctx, node, args, attrs):
    """Sums the sliding blocks of ``(N, C * prod(block), L)`` columns back into ``(N, C, *image)``:
    each column entry's image position is known when the graph is built, so the whole op is one
    scatter-add of the in-image entries (overlapping blocks add up)."""
    x, image, block = args
    image = [int(n) for n in np.ravel(ctx.need_static(image, "image_shape"))]
    block = [int(n) for n in np.ravel(ctx.need_static(block, "block_shape"))]
    rank = len(image)
    dilations = attrs.get("dilations", [1] * rank)
    strides = attrs.get("strides", [1] * rank)
    pads = attrs.get("pads", [0] * 2 * rank)
    clipped, inside, _ = _tap_positions(image, block, strides, dilations, _pairs(pads, rank))
    clipped, inside = np.swapaxes(clipped, 0, 1), inside.T.ravel()  # columns are (tap, window)
    flat = np.ravel_multi_index(tuple(clipped.reshape(-1, rank).T), image)
    channels = th.shape(x)[1] // int(np.prod(block))
    columns = th.reshape(x, (th.shape(x)[0], channels, -1))
    kept = th.take(columns, th.constant(np.flatnonzero(inside)), axis=2)
    zeros = th.zeros((th.shape(x)[0], channels, int(np.prod(image))), dtype=x.dtype)
    summed = th.inc_subtensor(zeros[:, :, th.constant(flat[inside])], kept)
    return [th.reshape(summed, (th.shape(x)[0], channels, *image))]


@imports("MaxUnpool")
def _max_unpool(ctx, node, args, attrs):
    """``X``'s values written at the flat positions ``I`` (MaxPool's Indices) of a zero tensor of the
    inferred unpooled shape ``(in - 1) * stride - pads + kernel`` per axis, then zero-padded at the end
    of each axis to ``output_shape`` when that is given (ONNX's reference)."""
    x, indices, shape = (*args, None)[:3]
    kernel = attrs["kernel_shape"]
    rank = len(kernel)
    strides, pads = attrs.get("strides", [1] * rank), attrs.get("pads", [0] * 2 * rank)
    if None in x.type.shape:
        raise Unsupported("the input shape must be static")
    inferred = list(x.type.shape[:2]) + [(n - 1) * s - pads[d] - pads[d + rank] + k for d, (n, s, k) in
                                         enumerate(zip(x.type.shape[2:], strides, kernel, strict=True))]
    flat = th.zeros((int(np.prod(inferred)),), dtype=x.dtype)
    written = th.reshape(th.set_subtensor(flat[th.reshape(th.cast(indices, "int64"), (-1,))],
                                          th.reshape(x, (-1,))), inferred)
    if shape is None:
        return [written]
    wanted = [int(n) for n in np.ravel(ctx.need_static(shape, "output_shape"))]
    return [th.pad(written, [(0, w - n) for w, n in zip(wanted, inferred, strict=True)])]


@imports("CausalConvWithState")
def _causal_conv_with_state(ctx, node, args, attrs):
    """A depthwise causal 1-D convolution over ``(N, C, L)`` whose left context is ``past_state``
    (zeros without one), optionally followed by SiLU; the second output is the last ``k - 1`` steps of
    that context plus the input, the state of the next call."""
    x, weight, bias, past = (*args, None, None)[:4]
    taps = weight.type.shape[2]
    activation = attrs.get("activation", "none")
    if taps is None or x.type.shape[1] is None or activation not in ("none", "silu", "swish"):
        raise Unsupported(f"a static kernel size and channel count, activation none/silu/swish (got {activation!r})")
    if past is None:
        past = th.zeros((th.shape(x)[0], x.type.shape[1], taps - 1), dtype=x.dtype)
    padded = th.concatenate([past, x], axis=2)
    kernel = th.transpose(weight, (2, 1, 0))
    y = th.conv(padded, kernel, 1, "valid", 1, x.type.shape[1], "channels_first")
    if bias is not None:
        y = y + th.reshape(bias, (1, -1, 1))
    if activation != "none":
        wide = th.cast(y, "float32")
        y = th.cast(wide * th.sigmoid(wide), x.dtype)
    return [y, padded[:, :, th.shape(padded)[2] - (taps - 1):]]

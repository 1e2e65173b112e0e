"""More ONNX ops as theanine expressions: less common activations and normalizations, rearrangements.

Same conventions as import_rules.py (one rule per op type, ``@imports``).
``TopK`` finds the smallest values as the largest of the negated input;
``DepthToSpace``/``SpaceToDepth`` and ``GroupNormalization`` need static
channel counts.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.import_rules import _c, _per_channel, _same
from theanine.codegen.onnx.import_scatter import COMBINE, scatter_reduce
from theanine.codegen.onnx.reader import Unsupported, imports


@imports("Swish")
def _swish(ctx, node, args, attrs):
    x = args[0]
    return [_same(x * th.sigmoid(_c(attrs.get("alpha", 1.0), x) * x), x)]


@imports("Shrink")
def _shrink(ctx, node, args, attrs):
    x = args[0]
    lambd, bias = _c(attrs.get("lambd", 0.5), x), _c(attrs.get("bias", 0.0), x)
    out = th.where(th.less(x, -lambd), x + bias, th.where(th.greater(x, lambd), x - bias, _c(0, x)))
    return [_same(out, x)]


@imports("CumProd")
def _cumprod(ctx, node, args, attrs):
    x = args[0]
    axis = int(ctx.need_static(args[1], "axis")) % x.ndim
    reverse = attrs.get("reverse", 0)
    work = th.flip(x, axis=axis) if reverse else x
    product = th.cumprod(work, axis=axis)
    if attrs.get("exclusive", 0):  # shifted one place along the axis, starting from 1
        length = th.shape(work)[axis]
        ones = th.ones_like(th.take(work, th.arange(1, dtype="int64"), axis=axis))
        product = th.concatenate([ones, th.take(product, th.arange(length - 1), axis=axis)], axis=axis)
    return [_same(th.flip(product, axis=axis) if reverse else product, x)]


@imports("EyeLike")
def _eye_like(ctx, node, args, attrs):
    x = args[0]
    dtype = NUMPY_DTYPES[attrs["dtype"]] if "dtype" in attrs else x.dtype
    return [th.eye(x.shape[0], x.shape[1], k=attrs.get("k", 0), dtype=dtype)]


@imports("TopK")
def _top_k(ctx, node, args, attrs):
    x = args[0]
    largest = attrs.get("largest", 1)
    if not largest and np.dtype(x.dtype).kind == "u":
        raise Unsupported(f"largest=0 of unsigned {x.dtype} (the smallest values are found by negating)")
    k = int(np.ravel(ctx.need_static(args[1], "k"))[0])
    axis = attrs.get("axis", -1) % x.ndim
    moved = th.moveaxis(x if largest else -x, axis, -1)
    values, indices = th.top_k(moved, k)
    values = values if largest else -values
    return [th.moveaxis(values, -1, axis), th.moveaxis(th.cast(indices, "int64"), -1, axis)]


@imports("LpNormalization")
def _lp_normalization(ctx, node, args, attrs):
    x, p = args[0], attrs.get("p", 2)
    axis = attrs.get("axis", -1)
    norm = th.sum(th.abs(x), axis=axis, keepdims=True) if p == 1 else th.sqrt(th.sum(x * x, axis=axis,
                                                                                     keepdims=True))
    return [_same(x / th.where(th.equal(norm, 0), _c(1, x), norm), x)]  # a zero vector stays zero


@imports("MeanVarianceNormalization")
def _mean_variance(ctx, node, args, attrs):
    x = args[0]
    axes = tuple(attrs.get("axes", [0, 2, 3]))
    mean = th.mean(x, axis=axes, keepdims=True)
    var = th.mean(x * x, axis=axes, keepdims=True) - mean * mean
    return [_same((x - mean) / (th.sqrt(var) + _c(1e-9, x)), x)]


@imports("RMSNormalization")
def _rms_normalization(ctx, node, args, attrs):
    x, scale = args[0], args[1]
    axis = attrs.get("axis", -1) % x.ndim
    work = th.cast(x, "float32") if x.dtype == "float16" else x
    mean_square = th.mean(work * work, axis=tuple(range(axis, x.ndim)), keepdims=True)
    y = _same(work / th.sqrt(mean_square + _c(attrs.get("epsilon", 1e-5), work)), x) * scale
    return [_same(y, x)]


@imports("GroupNormalization")
def _group_normalization(ctx, node, args, attrs):
    x, scale, bias = args
    groups, channels = attrs["num_groups"], x.type.shape[1]
    if channels is None or None in x.type.shape[2:]:
        raise Unsupported("the channel and spatial sizes must be static")
    grouped = th.reshape(x, (x.shape[0], groups, -1))
    mean = th.mean(grouped, axis=2, keepdims=True)
    var = th.mean((grouped - mean) * (grouped - mean), axis=2, keepdims=True)
    normal = th.reshape((grouped - mean) / th.sqrt(var + _c(attrs.get("epsilon", 1e-5), x)), th.shape(x))
    if scale.type.shape[0] == groups and groups != channels:  # opset 18: one scale per group
        scale, bias = th.repeat(scale, channels // groups), th.repeat(bias, channels // groups)
    return [_same(normal * _per_channel(scale, x) + _per_channel(bias, x), x)]


@imports("DepthToSpace")
def _depth_to_space(ctx, node, args, attrs):
    x, size = args[0], attrs["blocksize"]
    n, c, h, w = x.type.shape
    if None in (c, h, w):
        raise Unsupported("the channel and spatial sizes must be static")
    if attrs.get("mode", "DCR") == "DCR":
        t = th.reshape(x, (x.shape[0], size, size, c // size ** 2, h, w))
        t = th.transpose(t, (0, 3, 4, 1, 5, 2))
    else:
        t = th.reshape(x, (x.shape[0], c // size ** 2, size, size, h, w))
        t = th.transpose(t, (0, 1, 4, 2, 5, 3))
    return [th.reshape(t, (x.shape[0], c // size ** 2, h * size, w * size))]


@imports("SpaceToDepth")
def _space_to_depth(ctx, node, args, attrs):
    x, size = args[0], attrs["blocksize"]
    n, c, h, w = x.type.shape
    if None in (c, h, w):
        raise Unsupported("the channel and spatial sizes must be static")
    t = th.reshape(x, (x.shape[0], c, h // size, size, w // size, size))
    t = th.transpose(t, (0, 3, 5, 1, 2, 4) if attrs.get("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4))
    return [th.reshape(t, (x.shape[0], c * size * size, h // size, w // size))]


@imports("LRN")
def _lrn(ctx, node, args, attrs):
    x, size = args[0], attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    channels = x.type.shape[1]
    if channels is None:
        raise Unsupported("the channel count must be static")
    square = x * x
    padded = th.pad(square, [(0, 0), ((size - 1) // 2, size - 1 - (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2))
    total = padded[:, 0:channels]
    for k in range(1, size):
        total = total + padded[:, k:k + channels]
    return [_same(x / th.power(_c(bias, x) + _c(alpha / size, x) * total, _c(beta, x)), x)]


@imports("BitShift")
def _bit_shift(ctx, node, args, attrs):
    """``x`` shifted by ``shift`` bits as ONNX's reference: left shifts wrap around the type's width,
    right shifts of signed values are arithmetic (floor division by a power of two), and a shift that
    is negative or not below the width gives 0 (-1 for a negative value shifted right)."""
    x, shift = args
    dtype = np.dtype(x.dtype)
    width, signed = dtype.itemsize * 8, dtype.kind == "i"
    wide = "int64" if signed else "uint64"
    powers = (np.ones(width, np.uint64) << np.arange(width, dtype=np.uint64)).astype(wide)
    amount = th.cast(shift, "int64")
    valid = th.logical_and(th.greater_equal(amount, 0), th.less(amount, width))
    factor = th.take(th.constant(powers), th.clip(amount, 0, width - 1))
    value = th.cast(x, wide)
    zero = th.zeros((), dtype=x.dtype)
    if attrs["direction"] == "LEFT":
        return [th.where(valid, th.cast(value * factor, x.dtype), zero)]
    if signed:  # a shift by 63 would divide by the (negative) int64 image of 2**63: same result as 64
        valid = th.logical_and(valid, th.less(amount, 63))
        beyond = th.where(th.less(x, 0), th.cast(th.constant(np.asarray(-1)), x.dtype), zero)
    else:
        beyond = zero
    return [th.where(valid, th.cast(th.floor_divide(value, factor), x.dtype), beyond)]


@imports("OneHot")
def _one_hot(ctx, node, args, attrs):
    indices, depth, values = args
    known = ctx.static(depth)  # a depth known only at run time gives a run-time size along the axis
    depth = int(np.ravel(known)[0]) if known is not None else th.cast(th.reshape(depth, (-1,))[0], "int64")
    rank = indices.ndim + 1
    axis = attrs.get("axis", -1) % rank
    index = th.cast(indices, "int64")
    index = th.where(th.less(index, 0), index + depth, index)
    shape = [1] * rank
    shape[axis] = -1
    positions = th.reshape(th.arange(depth, dtype="int64"), shape)
    hot = th.equal(th.expand_dims(index, axis), positions)
    return [th.where(hot, values[1], values[0])]


WINDOWS = {
    "HannWindow": lambda n, length: np.sin(n * np.pi / length) ** 2,
    "HammingWindow": lambda n, length: 25 / 46 - 21 / 46 * np.cos(2 * np.pi * n / length),
    "BlackmanWindow": lambda n, length: 0.42 - 0.5 * np.cos(2 * np.pi * n / length)
    + 0.08 * np.cos(4 * np.pi * n / length),
}
"""The window functions of ONNX's signal ops at ``n = 0 .. size-1``, over a period of ``length``
(``size`` when ``periodic``, else ``size - 1``)."""


@imports(*WINDOWS)
def _window(ctx, node, args, attrs):
    size = int(np.ravel(ctx.need_static(args[0], "size"))[0])
    length = size if attrs.get("periodic", 1) else size - 1
    dtype = NUMPY_DTYPES[attrs.get("output_datatype", 1)]
    n = np.arange(size, dtype=np.float64)
    return [th.constant(WINDOWS[node.op_type](n, length).astype(dtype))]


def _wrapped(indices, size):
    """Indices with negative entries counted from the end of an axis of ``size``."""
    index = th.cast(indices, "int64")
    return th.where(th.less(index, 0), index + size, index)


def _grids(shape, ndim: int, skip: int | None = None) -> list:
    """``arange(shape[j])`` shaped to broadcast along axis ``j`` of an ``ndim``-d array, for each axis
    but ``skip``."""
    return [None if j == skip else th.reshape(th.arange(shape[j], dtype="int64"),
                                              [1] * j + [-1] + [1] * (ndim - j - 1)) for j in range(ndim)]


def _scatter(data, where, updates, reduction: str):
    if reduction == "none":
        return th.set_subtensor(data[where], updates)
    if reduction == "add":
        return th.inc_subtensor(data[where], updates)
    if reduction in COMBINE:
        return scatter_reduce(data, where, updates, reduction)
    raise Unsupported(f"reduction={reduction!r} (ONNX defines none, add, mul, max and min)")


@imports("ScatterElements", "Scatter")
def _scatter_elements(ctx, node, args, attrs):
    data, indices, updates = args
    axis = attrs.get("axis", 0) % data.ndim
    index_shape = th.shape(indices)
    where = _grids(index_shape, data.ndim, skip=axis)
    where[axis] = _wrapped(indices, th.shape(data)[axis])
    return [_scatter(data, tuple(where), updates, attrs.get("reduction", "none"))]


def _tuple_index(data, indices, batch_dims: int = 0):
    """``data``'s advanced index for ONNX's ``(..., k)`` index tuples, after ``batch_dims`` batch axes."""
    depth = indices.type.shape[-1]
    if depth is None:
        raise Unsupported("the last axis of indices (the index depth) must be static")
    batch = _grids(th.shape(indices), indices.ndim - 1)[:batch_dims]
    return tuple(batch) + tuple(_wrapped(indices[..., j], th.shape(data)[batch_dims + j]) for j in range(depth))


@imports("ScatterND")
def _scatter_nd(ctx, node, args, attrs):
    data, indices, updates = args
    return [_scatter(data, _tuple_index(data, indices), updates, attrs.get("reduction", "none"))]


@imports("GatherND")
def _gather_nd(ctx, node, args, attrs):
    data, indices = args
    return [data[_tuple_index(data, indices, attrs.get("batch_dims", 0))]]


@imports("AffineGrid")
def _affine_grid(ctx, node, args, attrs):
    """``theta`` (N, r, r+1) applied to the normalized coordinates ``(x, y[, z], 1)`` of every output
    position of ``size`` (N, C, *spatial): in [-1, 1] at pixel centers, or at the corners with
    ``align_corners``; the result is (N, *spatial, r)."""
    theta, size = args
    spatial = [int(n) for n in np.ravel(ctx.need_static(size, "size"))[2:]]
    axes = []
    for n in spatial:
        if attrs.get("align_corners", 0):
            axes.append(np.linspace(-1, 1, n) if n > 1 else np.full(1, -1.0))
        else:
            axes.append((2 * np.arange(n) + 1) / n - 1)
    mesh = np.meshgrid(*axes, indexing="ij")
    base = np.stack([*mesh[::-1], np.ones(spatial)], axis=-1).reshape(-1, len(spatial) + 1)
    grid = th.matmul(th.constant(base.astype(theta.dtype)), th.swapaxes(theta, 1, 2))
    return [th.reshape(grid, (th.shape(theta)[0], *spatial, len(spatial)))]


@imports("SwiGLU")
def _swiglu(ctx, node, args, attrs):
    a, b = args
    return [_same(a * th.sigmoid(_c(attrs.get("alpha", 1.0), a) * a) * b, a)]


@imports("ReverseSequence")
def _reverse_sequence(ctx, node, args, attrs):
    """Each batch item's first ``sequence_lens[b]`` steps along the time axis, reversed; the rest kept."""
    data, lengths = args
    batch_axis, time_axis = attrs.get("batch_axis", 1), attrs.get("time_axis", 0)
    steps = th.reshape(th.arange(th.shape(data)[time_axis], dtype="int64"),
                       [-1 if j == time_axis else 1 for j in range(data.ndim)])
    limits = th.reshape(th.cast(lengths, "int64"), [-1 if j == batch_axis else 1 for j in range(data.ndim)])
    source = th.where(th.less(steps, limits), limits - 1 - steps, steps)
    return [th.take_along_axis(data, source + th.zeros_like(data, dtype="int64"), axis=time_axis)]


@imports("CenterCropPad")
def _center_crop_pad(ctx, node, args, attrs):
    """Each listed axis cropped or zero-padded to the wanted size around its center; an odd
    difference leaves its extra element at the end, as ONNX's reference does."""
    x, shape = args
    wanted = [int(n) for n in np.ravel(ctx.need_static(shape, "shape"))]
    axes = [a % x.ndim for a in attrs.get("axes", range(x.ndim))]
    crops, pads = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for axis, size in zip(axes, wanted, strict=True):
        dim = x.type.shape[axis]
        if dim is None:
            raise Unsupported(f"axis {axis} must have a static size")
        if size < dim:
            start = (dim - size) // 2
            crops[axis] = slice(start, start + size)
        elif size > dim:
            start = (size - dim) // 2
            pads[axis] = (start, size - dim - start)
    return [th.pad(x[tuple(crops)], pads)]


@imports("Det")
def _det(ctx, node, args, attrs):
    return [th.det(args[0])]


@imports("NonZero")
def _nonzero(ctx, node, args, attrs):
    """The indices of the non-zero entries, one row per axis (a run-time number of columns)."""
    x = args[0]
    return [th.stack([th.cast(i, "int64") for i in th.nonzero(x if x.ndim else th.reshape(x, (1,)))], axis=0)]


@imports("Compress")
def _compress(ctx, node, args, attrs):
    """The slices of ``x`` along ``axis`` (of the flattened ``x`` without one) where ``condition`` holds;
    a condition shorter than the axis leaves the rest out."""
    x, condition = args
    axis = attrs.get("axis")
    data = th.reshape(x, (-1,)) if axis is None else x
    axis = 0 if axis is None else axis % x.ndim
    (selected,) = th.nonzero(th.cast(condition, "bool"))
    return [th.take(data, selected, axis=axis)]


@imports("TensorScatter")
def _tensor_scatter(ctx, node, args, attrs):
    """A KV-cache update: ``update``'s steps written into ``past_cache`` along ``axis`` from each batch
    item's ``write_indices`` on (wrapping around the cache with ``mode="circular"``)."""
    cache, update, starts = (*args, None)[:3]
    axis = attrs.get("axis", -2) % cache.ndim
    if axis == 0:
        raise Unsupported("axis 0 is the batch axis")
    shape = th.shape(update)
    where = _grids(shape, axis + 1)[:axis]
    starts = th.zeros((shape[0],), "int64") if starts is None else th.cast(starts, "int64")
    steps = th.reshape(starts, [-1] + [1] * axis) + th.reshape(th.arange(shape[axis], dtype="int64"),
                                                               [1] * axis + [-1])
    if attrs.get("mode", "linear") == "circular":
        steps = th.mod(steps, th.shape(cache)[axis])
    return [th.set_subtensor(cache[(*where, steps)], update)]

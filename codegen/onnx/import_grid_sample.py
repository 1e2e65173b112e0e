"""ONNX's GridSample (2-D and volumetric) as theanine expressions, following ONNX's reference.

``grid`` (N, *O, r) holds normalized coordinates in [-1, 1], ``(x, y[, z])``
for the input's last spatial axis first.  Each is mapped to a pixel
coordinate (pixel centers, or corners with ``align_corners``); one out of
``[lo, hi]`` (``[-0.5, size - 0.5]``, or ``[0, size - 1]``) is clamped into
the input (``padding_mode="border"``) or reflected back by the near border
until inside (``"reflection"``).  ``nearest`` rounds it half to even;
``linear`` and ``cubic`` (Keys, a = -0.75) weight the 2 or 4 samples around
it.  A sample index out of the input reads 0 (``"zeros"``), the clamped
index (``"border"``) or the reflected one (``"reflection"``).  The
interpolation is a product of per-axis weights, so every combination of
per-axis samples is one gather from the flattened input; coordinates are
float32 as in the reference.
"""

from __future__ import annotations

import itertools

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports

CUBIC_A = -0.75


@imports("GridSample")
def _grid_sample(ctx, node, args, attrs):
    x, grid = args
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(attrs.get("mode", "linear"), attrs.get("mode", "linear"))
    padding = attrs.get("padding_mode", "zeros")
    align = bool(attrs.get("align_corners", 0))
    sizes = x.type.shape[2:]
    if None in sizes or mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border",
                                                                                        "reflection"):
        raise Unsupported(f"mode={mode!r}, padding_mode={padding!r} with input spatial sizes {sizes}")
    per_axis = []
    for axis, size in enumerate(sizes):
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        normalized = th.cast(grid[..., len(sizes) - 1 - axis], "float32")
        position = (normalized + 1) / 2 * (size - 1) if align else ((normalized + 1) * size - 1) / 2
        if mode == "nearest":
            position = th.round(position)
        outside = th.logical_or(th.less(position, lo), th.greater(position, hi))
        if padding == "border":
            position = th.where(outside, th.clip(position, 0, size - 1), position)
        elif padding == "reflection":
            position = _reflect(position, lo, hi)
        per_axis.append([_sample(index, weight, size, padding, lo, hi) for index, weight in
                         _taps(position, mode)])
    flat = th.reshape(x, (th.shape(x)[0], th.shape(x)[1], -1))
    out_shape = (th.shape(grid)[0], th.shape(x)[1], *(th.shape(grid)[1 + k] for k in range(grid.ndim - 2)))
    total = None
    for combination in itertools.product(*per_axis):
        flat_index, weight = None, None
        for axis, (index, axis_weight) in enumerate(combination):
            stride = int(np.prod(sizes[axis + 1:]))
            term = index * stride
            flat_index = term if flat_index is None else flat_index + term
            weight = axis_weight if weight is None else weight * axis_weight
        positions = th.reshape(flat_index, (th.shape(grid)[0], 1, -1)) + th.zeros((1, th.shape(x)[1], 1), "int64")
        values = th.take_along_axis(flat, positions, axis=2)
        term = values * th.cast(th.reshape(weight, (th.shape(grid)[0], 1, -1)), x.dtype)
        total = term if total is None else total + term
    return [th.cast(th.reshape(total, out_shape), x.dtype)]


def _taps(position, mode: str) -> list[tuple]:
    """``(integer sample index, weight)`` of each sample the mode reads around ``position``."""
    if mode == "nearest":
        return [(th.cast(position, "int64"), th.ones_like(position))]
    base = th.floor(position)
    t = position - base
    start = th.cast(base, "int64")
    if mode == "linear":
        return [(start, 1 - t), (start + 1, t)]
    a = CUBIC_A
    weights = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
               ((a + 2) * t - (a + 3)) * t * t + 1,
               ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
               ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    return [(start + k - 1, w) for k, w in enumerate(weights)]


def _sample(index, weight, size: int, padding: str, lo: float, hi: float) -> tuple:
    """The index actually read for a sample, and its weight (0 for a zero-padded sample)."""
    if padding == "zeros":
        inside = th.logical_and(th.greater_equal(index, 0), th.less(index, size))
        return th.clip(index, 0, size - 1), th.where(inside, weight, th.zeros_like(weight))
    if padding == "border":
        return th.clip(index, 0, size - 1), weight
    reflected = th.cast(_reflect(th.cast(index, "float32"), lo, hi), "int64")
    return th.clip(reflected, 0, size - 1), weight


def _reflect(value, lo: float, hi: float):
    """``value`` reflected by the near border of ``[lo, hi]`` until inside (ONNX's ``_gs_reflect``)."""
    span = hi - lo
    below, above = th.less(value, lo), th.greater(value, hi)
    distance = th.where(below, lo - value, th.where(above, value - hi, th.zeros_like(value)))
    if span == 0:
        return th.where(th.logical_or(below, above), th.zeros_like(value) + lo, value)
    folds = th.floor(distance / span)
    rest = distance - folds * span
    even = th.equal(th.mod(folds, 2), 0)
    from_below = th.where(even, lo + rest, hi - rest)
    from_above = th.where(even, hi - rest, lo + rest)
    return th.where(below, from_below, th.where(above, from_above, value))

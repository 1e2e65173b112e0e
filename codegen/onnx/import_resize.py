"""ONNX's Resize (and the older Upsample) as theanine expressions: one separable pass per resized axis.

Each pass follows ONNX's definition along one axis: every output index
``y`` maps back to a source coordinate ``x`` (``coordinate_transformation_mode``:
half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners,
asymmetric, tf_crop_and_resize with its ``roi``); the ``n`` input samples
nearest ``x`` (edge-clamped) are gathered and weighted by the mode's
coefficients of the fractional part (nearest with its ``nearest_mode``,
linear, cubic with ``cubic_coeff_a``; with ``antialias`` the linear and
cubic kernels widen by ``1/scale`` when downsampling), renormalized over
in-range samples with ``exclude_outside``; tf_crop_and_resize writes
``extrapolation_value`` where ``x`` leaves the input.  Sizes come from
``sizes`` (with ``keep_aspect_ratio_policy``) or ``floor(scale * size)``; a
``scales`` input known only at run time gives run-time output sizes (but
not with antialias, whose kernel width depends on the scale).  Integer data
is interpolated in float64 and cast back with saturation, as ONNX's
reference does; float data in its own precision (float16 in float32).
"""

from __future__ import annotations

import math

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports

COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@imports("Resize", "Upsample")
def _resize(ctx, node, args, attrs):
    x = args[0]
    if node.op_type == "Upsample" or ctx.opset < 11:
        options = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor", **attrs}
        scales = args[1] if len(args) > 1 else th.constant(np.asarray(attrs["scales"], "float32"))
        roi, sizes = None, None
    else:
        options = attrs
        roi, scales, sizes = (*args[1:], None, None, None)[:3]
    roi, scales, sizes = (None if v is None or v.type.shape == (0,) else v for v in (roi, scales, sizes))
    mode = options.get("mode", "nearest")
    coordinates = options.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear", "cubic") or coordinates not in COORDINATE_MODES or \
            options.get("nearest_mode", "round_prefer_floor") not in NEAREST_MODES:
        raise Unsupported(f"mode={mode!r}, coordinate_transformation_mode={coordinates!r}")
    axes = [a % x.ndim for a in options.get("axes", range(x.ndim))]
    plans = _axis_plans(ctx, x, axes, scales, sizes, options.get("keep_aspect_ratio_policy", "stretch"))
    roi_value = None
    if roi is not None:
        known = ctx.static(roi)
        roi_value = np.ravel(known).astype(np.float64) if known is not None else th.cast(th.reshape(roi, (-1,)),
                                                                                             "float64")
    work_dtype = x.dtype if x.dtype in ("float32", "float64") else "float32" if x.dtype == "float16" else "float64"
    work = th.cast(x, work_dtype)
    for k, (axis, scale, out_len) in enumerate(plans):
        axis_roi = None if roi_value is None else (roi_value[k], roi_value[k + len(axes)])
        if axis_roi is None and coordinates == "tf_crop_and_resize":
            raise Unsupported("tf_crop_and_resize needs a roi")
        if _is_identity(x.type.shape[axis], scale, out_len, axis_roi):
            continue
        work = _resize_axis(work, axis, scale, out_len, axis_roi, mode, coordinates, options)
    return [_saturating_cast(work, x.dtype)]


def _axis_plans(ctx, x, axes, scales, sizes, policy: str) -> list[tuple]:
    """``(axis, scale, output length)`` per resized axis; scale and length are Python numbers when
    known when the graph is built, else scalar expressions."""
    lengths = [x.type.shape[a] if x.type.shape[a] is not None else th.shape(x)[a] for a in axes]
    if sizes is not None:
        wanted = [int(s) for s in np.ravel(ctx.need_static(sizes, "sizes"))]
        if any(isinstance(n, th.Variable) for n in lengths):
            raise Unsupported("sizes with input dims unknown when the graph is built")
        factors = [w / n for w, n in zip(wanted, lengths, strict=True)]
        if policy in ("not_larger", "not_smaller"):
            scale = min(factors) if policy == "not_larger" else max(factors)
            return [(a, scale, int(scale * n + 0.5)) for a, n in zip(axes, lengths, strict=True)]
        return list(zip(axes, factors, wanted, strict=True))
    if scales is None:
        raise Unsupported("neither scales nor sizes given")
    known = ctx.static(scales)
    if known is not None and not any(isinstance(n, th.Variable) for n in lengths):
        values = np.ravel(known).astype(np.float64)
        return [(a, float(s), int(s * n)) for a, s, n in zip(axes, values, lengths, strict=True)]
    values = th.cast(th.reshape(scales, (-1,)), "float64")
    return [(a, values[k], th.cast(th.floor(values[k] * th.cast(n, "float64")), "int64"))
            for k, (a, n) in enumerate(zip(axes, lengths, strict=True))]


def _is_identity(length, scale, out_len, axis_roi) -> bool:
    static = all(isinstance(v, (int, float)) for v in (length, scale, out_len, *(axis_roi or ())))
    return static and math.isclose(scale, 1.0) and out_len == length and (
        axis_roi is None or (math.isclose(axis_roi[0], 0.0) and math.isclose(axis_roi[1], 1.0)))


def _f64(value):
    return th.cast(value, "float64") if isinstance(value, th.Variable) else th.constant(np.float64(value))


def _source_coordinates(coordinates: str, y, scale, in_len, out_len, axis_roi):
    """The source coordinate of each output index ``y`` (float64), and where tf_crop_and_resize
    extrapolates (else None)."""
    scale, n_in, n_out = _f64(scale), _f64(in_len), _f64(out_len)
    out_width = scale * n_in
    single = th.equal(out_width, 1)
    if coordinates == "align_corners":
        return th.where(single, th.zeros_like(y), y * (n_in - 1) / (out_width - 1)), None
    if coordinates == "asymmetric":
        return y / scale, None
    if coordinates == "pytorch_half_pixel":
        return th.where(single, th.zeros_like(y) - 0.5, (y + 0.5) / scale - 0.5), None
    if coordinates == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if coordinates == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / out_width)
        return offset + (y + 0.5) / scale - 0.5, None
    start, end = axis_roi
    x = th.where(single, th.zeros_like(y) + (end - start) * (n_in - 1) / 2, y * (end - start) * (n_in - 1) /
                 (out_width - 1)) + start * (n_in - 1)
    return x, th.logical_or(th.less(x, 0), th.greater(x, n_in - 1))


def _coefficients(mode: str, ratio, scale, options) -> tuple:
    """``(n, weights (out, n))`` of the mode's kernel at each output's fractional position ``ratio``."""
    column = th.expand_dims(ratio, 1)
    if mode == "nearest":
        rule = options.get("nearest_mode", "round_prefer_floor")
        whole = th.equal(column, 1)
        first = {"round_prefer_floor": th.less_equal(column, 0.5), "round_prefer_ceil": th.less(column, 0.5),
                 "floor": th.ones_like(whole), "ceil": th.zeros_like(whole)}[rule]
        first = th.logical_and(first, th.logical_not(whole))
        weights = th.cast(th.concatenate([first, th.logical_not(first)], axis=1), "float64")
        return 2, weights
    antialias = options.get("antialias", 0)
    if antialias and isinstance(scale, th.Variable):
        raise Unsupported("antialias with scales known only at run time")
    if mode == "linear":
        if not antialias:
            return 2, th.concatenate([1 - column, column], axis=1)
        s = min(scale, 1.0)
        start = math.floor(-1 / s) + 1
        taps = th.constant(np.arange(start, start + 2 - 2 * start, dtype=np.float64))
        weights = th.clip(1 - th.abs((taps - column) * s), 0, 1)
        return 2 - 2 * start, weights / th.sum(weights, axis=1, keepdims=True)
    a = float(options.get("cubic_coeff_a", -0.75))
    if not antialias:
        near, far = column, 1 - column
        weights = [((a * (near + 1) - 5 * a) * (near + 1) + 8 * a) * (near + 1) - 4 * a,
                   ((a + 2) * near - (a + 3)) * near * near + 1,
                   ((a + 2) * far - (a + 3)) * far * far + 1,
                   ((a * (far + 1) - 5 * a) * (far + 1) + 8 * a) * (far + 1) - 4 * a]
        return 4, th.concatenate(weights, axis=1)
    s = min(scale, 1.0)
    start = math.floor(-2 / s) + 1
    taps = th.constant(np.arange(start, 2 - start, dtype=np.float64))
    d = th.abs((taps - column) * s)
    inner = (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    outer = a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    weights = th.where(th.less_equal(d, 1), inner, th.where(th.less(d, 2), outer, th.zeros_like(d)))
    return 2 - 2 * start, weights / th.sum(weights, axis=1, keepdims=True)


def _resize_axis(data, axis: int, scale, out_len, axis_roi, mode: str, coordinates: str, options):
    in_len = data.type.shape[axis] if data.type.shape[axis] is not None else th.shape(data)[axis]
    y = th.cast(th.arange(out_len, dtype="int64"), "float64")
    x, extrapolated = _source_coordinates(coordinates, y, scale, in_len, out_len, axis_roi)
    floor = th.floor(x)
    ratio = th.where(th.equal(x, floor), th.ones_like(x), x - floor)
    n, weights = _coefficients(mode, ratio, scale, options)
    pad = math.ceil(n / 2)
    padded = x + pad
    base = th.floor(padded)
    fraction = padded - base
    if n % 2 == 0:
        offset = th.where(th.equal(fraction, 0), -(n // 2), -(n // 2) + 1)
    else:
        offset = th.where(th.less_equal(fraction, 0.5), -((n - 1) // 2), -((n - 1) // 2) + 1)
    first = th.cast(base, "int64") + offset - pad
    neighbors = th.expand_dims(first, 1) + th.constant(np.arange(n, dtype=np.int64))
    last = th.cast(in_len, "int64") - 1
    if options.get("exclude_outside", 0):
        inside = th.logical_and(th.greater_equal(neighbors, 0), th.less_equal(neighbors, last))
        weights = th.where(inside, weights, th.zeros_like(weights))
        total = th.sum(weights, axis=1, keepdims=True)
        weights = weights / th.where(th.equal(total, 0), th.ones_like(total), total)
    gathered = th.take(th.moveaxis(data, axis, -1), th.clip(neighbors, 0, last), axis=-1)
    result = th.sum(gathered * th.cast(weights, data.dtype), axis=-1)
    if extrapolated is not None:
        value = th.constant(np.asarray(options.get("extrapolation_value", 0.0), dtype=data.dtype))
        result = th.where(extrapolated, value, result)
    return th.moveaxis(result, -1, axis)


def _saturating_cast(work, dtype: str):
    """ONNX's saturate_cast: integers are clipped into the type's range, then truncated."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        work = th.clip(work, float(info.min), float(info.max))
    return th.cast(work, dtype)

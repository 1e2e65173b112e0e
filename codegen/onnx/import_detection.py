"""ONNX Unique, NonMaxSuppression, ImageDecoder and RoiAlign.

Unique, NonMaxSuppression and ImageDecoder have outputs whose size depends
on the values: they map onto graph ops that run NumPy on the host
(graph/ops/counting.py's ``Unique``, graph/ops/detection.py's
``NonMaxSuppression``, graph/ops/image_decode.py's ``ImageDecode``).  RoiAlign is graph arithmetic (gathers of each
sample point's four neighbours), so it compiles and differentiates as is.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports
from theanine.graph.ops.counting import unique
from theanine.graph.ops.detection import NonMaxSuppression
from theanine.graph.ops.image_decode import decode_image


@imports("Unique")
def _unique(ctx, node, args, attrs):
    x = args[0]
    axis = attrs["axis"] % x.ndim if "axis" in attrs else None
    return list(unique(x, axis, bool(attrs.get("sorted", 1))))


@imports("NonMaxSuppression")
def _non_max_suppression(ctx, node, args, attrs):
    boxes, scores, max_output, iou, score = (*args, None, None, None)[:5]
    defaults = (np.asarray(0, "int64"), np.asarray(0.0, "float32"), np.asarray(0.0, "float32"))
    limits = [th.constant(d) if v is None else v for v, d in zip((max_output, iou, score), defaults, strict=True)]
    op = NonMaxSuppression(bool(attrs.get("center_point_box", 0)), score is not None)
    return [op(boxes, scores, *limits)]


def _sample_axis(start, bin_size, bins: int, grid: int, size):
    """Per ROI (axis 0), the ``bins * grid`` sample positions along one image axis (shape ``(R, bins,
    grid)``), as the two neighbouring pixel indices and their weights, zero outside ``[-1, size]``
    (onnxruntime's RoiAlign bilinear rule)."""
    step = th.reshape(th.arange(bins, dtype="float32"), (1, bins, 1))
    inner = th.reshape((th.arange(grid, dtype="float32") + 0.5) / grid, (1, 1, grid))
    pos = th.reshape(start, (-1, 1, 1)) + (step + inner) * th.reshape(bin_size, (-1, 1, 1))
    size_f = th.cast(size, "float32")
    inside = th.cast(th.logical_and(th.greater_equal(pos, -1.0), th.less_equal(pos, size_f)), "float32")
    pos = th.maximum(pos, 0.0)
    low = th.floor(pos)
    last = th.greater_equal(low, size_f - 1)
    low = th.where(last, size_f - 1, low)
    pos = th.where(last, low, pos)
    high = th.where(last, low, low + 1)
    frac = pos - low
    return th.cast(low, "int64"), th.cast(high, "int64"), (1 - frac) * inside, frac * inside


@imports("RoiAlign")
def _roi_align(ctx, node, args, attrs):
    """ONNX RoiAlign as gathers of the four neighbours of every sample point; a static
    ``sampling_ratio`` (the adaptive 0 makes the sample count depend on each ROI's size)."""
    x, rois, batch = args
    ratio = attrs.get("sampling_ratio", 0)
    if ratio <= 0:
        raise Unsupported("sampling_ratio=0 (an adaptive number of samples per ROI)")
    out_h, out_w = attrs.get("output_height", 1), attrs.get("output_width", 1)
    half_pixel = attrs.get("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    x32, boxes = th.cast(x, "float32"), th.cast(rois, "float32") * attrs.get("spatial_scale", 1.0)
    start = boxes[:, :2] - (0.5 if half_pixel else 0.0)
    extent = boxes[:, 2:] - boxes[:, :2]
    if not half_pixel:
        extent = th.maximum(extent, 1.0)
    height, width = th.shape(x)[2], th.shape(x)[3]
    ys = _sample_axis(start[:, 1], extent[:, 1] / out_h, out_h, ratio, height)
    xs = _sample_axis(start[:, 0], extent[:, 0] / out_w, out_w, ratio, width)
    image = th.reshape(th.cast(batch, "int64"), (-1, 1, 1, 1, 1, 1))
    channel = th.reshape(th.arange(th.shape(x)[1], dtype="int64"), (1, -1, 1, 1, 1, 1))

    def rows(v):  # (R, P, grid) -> (R, 1, P, grid, 1, 1)
        return th.expand_dims(th.expand_dims(th.expand_dims(v, 1), -1), -1)

    def columns(v):  # (R, Q, grid) -> (R, 1, 1, 1, Q, grid)
        return th.expand_dims(th.expand_dims(th.expand_dims(v, 1), 1), 1)

    terms = [rows(wy) * columns(wx) * x32[image, channel, rows(iy), columns(ix)]
             for iy, wy in ((ys[0], ys[2]), (ys[1], ys[3])) for ix, wx in ((xs[0], xs[2]), (xs[1], xs[3]))]
    if attrs.get("mode", "avg") == "max":
        pooled = th.max(th.maximum(th.maximum(terms[0], terms[1]), th.maximum(terms[2], terms[3])), axis=(3, 5))
    else:
        pooled = th.mean(terms[0] + terms[1] + terms[2] + terms[3], axis=(3, 5))
    return [th.cast(pooled, x.dtype)]


@imports("ImageDecoder")
def _image_decoder(ctx, node, args, attrs):
    return [decode_image(args[0], attrs.get("pixel_format", "RGB"))]

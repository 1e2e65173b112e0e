"""ONNX Unique and NonMaxSuppression: ops whose output length depends on the values.

Both map onto graph ops that run NumPy on the host (graph/ops/counting.py's
``Unique``, graph/ops/detection.py's ``NonMaxSuppression``); their outputs
have a dynamic length (static shape None).
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import imports
from theanine.graph.ops.counting import unique
from theanine.graph.ops.detection import NonMaxSuppression


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

"""Object detection's ``NonMaxSuppression``: the boxes kept by greedy suppression, per image and class.

Its output length depends on the values (how many boxes survive), so, like
the ops in counting.py, it is a NumPy ``perform`` op that every backend runs
as a host call; its output is indices (no gradient).  The semantics are
ONNX's: per batch and class, the boxes scoring above ``score_threshold``
(all, without one) in descending score order (ties: the lower index first)
are kept one by one unless their IoU with a kept box exceeds
``iou_threshold``, at most ``max_output`` per class.  Boxes are corners
``[y1, x1, y2, x2]`` in either order, or ``[x_center, y_center, width,
height]`` with ``center_point_box``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["NonMaxSuppression", "non_max_suppression"]


def _corners(boxes: np.ndarray, center_point_box: bool) -> np.ndarray:
    """``[y_min, x_min, y_max, x_max]`` of each box."""
    boxes = boxes.astype(np.float64)
    if center_point_box:
        x, y, w, h = np.moveaxis(boxes, -1, 0)
        return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=-1)
    y1, x1, y2, x2 = np.moveaxis(boxes, -1, 0)
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)], axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The IoU of ``box`` with each of ``others`` (0 where either is empty or they do not overlap)."""
    high = np.minimum(box[2:], others[:, 2:])
    low = np.maximum(box[:2], others[:, :2])
    sides = high - low
    overlap = np.where((sides > 0).all(axis=1), sides.prod(axis=1), 0.0)
    area = (box[2:] - box[:2]).prod()
    areas = (others[:, 2:] - others[:, :2]).prod(axis=1)
    union = area + areas - overlap
    valid = (overlap > 0) & (area > 0) & (areas > 0) & (union > 0)
    return np.where(valid, overlap / np.where(valid, union, 1.0), 0.0)


class NonMaxSuppression(Op):
    """``(boxes, scores, max_output, iou_threshold, score_threshold)`` -> ``(n, 3)`` int64 rows of
    ``(batch, class, box)``; ``boxes`` is ``(batch, n_boxes, 4)``, ``scores`` ``(batch, classes, n_boxes)``."""

    __props__ = ("center_point_box", "thresholded")

    def __init__(self, center_point_box: bool = False, thresholded: bool = True):
        self.center_point_box, self.thresholded = bool(center_point_box), bool(thresholded)

    def make_node(self, boxes, scores, max_output, iou_threshold, score_threshold) -> Apply:
        boxes, scores = as_tensor_variable(boxes), as_tensor_variable(scores)
        if boxes.ndim != 3 or scores.ndim != 3 or boxes.type.shape[2] not in (4, None):
            raise ValueError(f"non_max_suppression: boxes must be (batch, boxes, 4) and scores (batch, classes, "
                             f"boxes). Received: {boxes.type}, {scores.type}")
        limits = [as_tensor_variable(v) for v in (max_output, iou_threshold, score_threshold)]
        return Apply(self, [boxes, scores, *limits], [TensorType("int64", (None, 3))])

    def perform(self, node, inputs):
        boxes, scores, max_output, iou_threshold, score_threshold = inputs
        limit, iou_limit = max(int(np.ravel(max_output)[0]), 0), float(np.ravel(iou_threshold)[0])
        corners = _corners(boxes, self.center_point_box)
        kept = []
        for batch in range(scores.shape[0]):
            for cls in range(scores.shape[1]):
                row = scores[batch, cls]
                candidates = np.arange(row.shape[0])
                if self.thresholded:
                    candidates = candidates[row > np.ravel(score_threshold)[0]]
                order = candidates[np.argsort(-row[candidates], kind="stable")]
                chosen: list[int] = []
                for box in order:
                    if len(chosen) >= limit:
                        break
                    if not chosen or (_iou(corners[batch, box], corners[batch, chosen]) <= iou_limit).all():
                        chosen.append(int(box))
                kept.extend((batch, cls, box) for box in chosen)
        return [np.asarray(kept, dtype="int64").reshape(-1, 3)]

    def connection_pattern(self, node):
        return [[False]] * len(node.inputs)

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


def non_max_suppression(boxes, scores, max_output=0, iou_threshold=0.0, score_threshold=None,
                        center_point_box: bool = False):
    """The ``(batch, class, box)`` indices ONNX's NonMaxSuppression keeps (see the module docstring)."""
    op = NonMaxSuppression(center_point_box, score_threshold is not None)
    return op(boxes, scores, np.asarray(max_output, "int64"), np.asarray(iou_threshold, "float32"),
              np.asarray(0.0 if score_threshold is None else score_threshold, "float32"))

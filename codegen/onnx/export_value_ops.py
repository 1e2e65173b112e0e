"""ONNX forms of the ops whose outputs depend on values: BitCast, Unique, NonMaxSuppression, ImageDecode.

Registered into export_rules.py's table (``@exports``), each as the one
ONNX node of the same meaning; a node the chosen opset cannot hold (BitCast
arrived in opset 26, ImageDecoder in 20) declines with the opset it needs.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx.builder import onnx_dtype
from theanine.codegen.onnx.export_rules import Decline, exports
from theanine.graph.ops.bitcast import BitcastView
from theanine.graph.ops.counting import Unique
from theanine.graph.ops.detection import NonMaxSuppression
from theanine.graph.ops.image_decode import ImageDecode


def _need_opset(ex, opset: int, what: str) -> None:
    if ex.b.opset < opset:
        raise Decline(f"ONNX {what} needs opset {opset} (exporting opset {ex.b.opset})")


@exports(BitcastView)
def _bitcast(ex, node, ins):
    if np.dtype(node.inputs[0].dtype).itemsize != np.dtype(node.op.dtype).itemsize:
        raise Decline(f"ONNX BitCast keeps the element width; this view reads {node.inputs[0].dtype} as "
                      f"{node.op.dtype}")
    _need_opset(ex, 26, "BitCast")
    return [ex.b.one("BitCast", ins[0], to=onnx_dtype(node.op.dtype))]


@exports(Unique)
def _unique(ex, node, ins):
    return ex.b.node("Unique", [ins[0]], 4, axis=node.op.axis, sorted=int(node.op.sorted))


@exports(NonMaxSuppression)
def _non_max_suppression(ex, node, ins):
    b = ex.b
    boxes, scores, limit, iou, score = ins
    limit = b.one("Reshape", b.cast(limit, node.inputs[2].dtype, "int64"), b.const(np.asarray([1], "int64")))
    iou = b.one("Reshape", b.cast(iou, node.inputs[3].dtype, "float32"), b.const(np.asarray([1], "int64")))
    score = b.one("Reshape", b.cast(score, node.inputs[4].dtype, "float32"), b.const(np.asarray([1], "int64"))) \
        if node.op.thresholded else ""
    return [b.one("NonMaxSuppression", boxes, scores, limit, iou, score,
                  center_point_box=int(node.op.center_point_box))]


@exports(ImageDecode)
def _image_decode(ex, node, ins):
    _need_opset(ex, 20, "ImageDecoder")
    return [ex.b.one("ImageDecoder", ins[0], pixel_format=node.op.pixel_format)]

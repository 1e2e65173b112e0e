"""Export of BitCast, Unique, NonMaxSuppression and ImageDecode (codegen/onnx/export_value_ops.py).

Each exported model runs in onnx's reference evaluator with the values
theanine computes, and reads back through ``th.onnx.load``; BitCast below
opset 26 is refused with the opset it needs.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402
from theanine.graph.ops.bitcast import bitcast  # noqa: E402
from theanine.graph.ops.counting import unique  # noqa: E402
from theanine.graph.ops.detection import non_max_suppression  # noqa: E402


def _round_trip(inputs, outputs, values, opset):
    expected = th.function(inputs, outputs)(*values)
    model = th.onnx.to_model(outputs, inputs=inputs, opset=opset)
    feeds = {i.name: v for i, v in zip(model.graph.input, values, strict=False)}
    got = ReferenceEvaluator(model).run(None, feeds)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    loaded = th.onnx.load(model, input_shapes={k: v.shape for k, v in feeds.items()})
    again = th.function(loaded.inputs, loaded.outputs)(*values)
    for g, e in zip(again, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_unique_and_bitcast_round_trip():
    x = th.tensor("x", "float32", (6,))
    values, first, inverse, counts = unique(x, None, sorted=False)
    data = np.array([3.0, 1.0, 3.0, -2.0, 1.0, 5.0], np.float32)
    _round_trip([x], [values, first, inverse, counts, bitcast(x, "int32")], [data], 26)


def test_non_max_suppression_round_trip():
    boxes, scores = th.tensor("boxes", "float32", (1, 4, 4)), th.tensor("scores", "float32", (1, 2, 4))
    selected = non_max_suppression(boxes, scores, 2, 0.4, 0.1, center_point_box=False)
    box_values = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 5, 1, 6], [2, 2, 3, 3]]], np.float32)
    score_values = np.array([[[0.9, 0.8, 0.05, 0.7], [0.2, 0.3, 0.6, 0.1]]], np.float32)
    _round_trip([boxes, scores], [selected], [box_values, score_values], 18)


def test_bitcast_needs_opset_26():
    x = th.tensor("x", "float32", (2,))
    with pytest.raises(th.onnx.OnnxExportError, match="BitCast needs opset 26"):
        th.onnx.to_model([bitcast(x, "int32")], inputs=[x], opset=18)

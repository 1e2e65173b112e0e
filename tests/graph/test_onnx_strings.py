"""ONNX string models beyond the shipped node cases (those run in test_onnx_nodes.py): Cast between
strings and numbers and LabelEncoder with string values, against onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402


def _model(nodes, inputs, outputs):
    graph = helper.make_graph(nodes, "strings", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 4)])


def _run(model, feeds, backend):
    graph = th.onnx.load(model, input_shapes={k: v.shape for k, v in feeds.items()})
    out = th.function(graph.inputs, graph.outputs, backend=backend)(*graph.feeds(feeds))
    return graph.results(out if isinstance(out, list) else [out])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_cast_float_to_string_and_back(backend):
    model = _model([helper.make_node("Cast", ["x"], ["s"], to=TensorProto.STRING),
                    helper.make_node("Cast", ["s"], ["y"], to=TensorProto.DOUBLE)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                   [helper.make_tensor_value_info("s", TensorProto.STRING, [4]),
                    helper.make_tensor_value_info("y", TensorProto.DOUBLE, [4])])
    feeds = {"x": np.array([1.5, -2.25, np.nan, np.inf], np.float32)}
    text, number = _run(model, feeds, backend)
    ref_text, ref_number = ReferenceEvaluator(model).run(None, feeds)
    assert text.tolist() == ref_text.tolist()
    np.testing.assert_array_equal(number, ref_number)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_label_encoder_from_strings_to_strings(backend):
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_strings=["a", "b", "a"],
                            values_strings=["first", "second", "third"], default_string="?")
    model = _model([node], [helper.make_tensor_value_info("x", TensorProto.STRING, [2, 2])],
                   [helper.make_tensor_value_info("y", TensorProto.STRING, [2, 2])])
    feeds = {"x": np.array([["a", "b"], ["c", ""]], dtype=object)}
    (got,) = _run(model, feeds, backend)
    assert got.tolist() == [["third", "second"], ["?", "?"]]
    assert got.tolist() == ReferenceEvaluator(model).run(None, feeds)[0].tolist()

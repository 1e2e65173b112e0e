"""ONNX DeformConv (codegen/onnx/import_deform.py) against onnx's reference, and its gradients.

Groups, offset groups, strides, dilations, pads, a mask and a bias, with
offsets that reach outside the image, under every backend; gradients with
respect to the input, the weights and the offsets against finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402

ATTRS = {"kernel_shape": [2, 3], "group": 2, "offset_group": 2, "strides": [2, 1], "dilations": [1, 2],
         "pads": [1, 0, 1, 1]}
NAMES = ["x", "w", "offset", "b", "mask"]


def _model():
    node = helper.make_node("DeformConv", NAMES, ["y"], **ATTRS)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in NAMES]
    graph = helper.make_graph([node], "deform", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _feeds():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((6, 2, 2, 3))
    out_h, out_w = (5 + 2 - 2) // 2 + 1, (6 + 1 - 5) + 1
    offset = rng.uniform(-2.5, 2.5, (2, 2 * 2 * 6, out_h, out_w))
    b, mask = rng.standard_normal(6), rng.uniform(0, 1, (2, 2 * 6, out_h, out_w))
    return {k: v.astype(np.float32) for k, v in zip(NAMES, (x, w, offset, b, mask), strict=True)}


def _graph():
    return th.onnx.load(_model(), input_shapes={k: v.shape for k, v in _feeds().items()})


def test_deform_conv_matches_onnx(backend):
    feeds = _feeds()
    expected = ReferenceEvaluator(_model()).run(None, feeds)[0]
    graph = _graph()
    got = th.function(graph.inputs, graph.outputs[0], backend=backend)(*(feeds[n] for n in graph.input_names))
    assert got.shape == expected.shape == (2, 6, 3, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("wrt", ["x", "w", "offset"])
def test_deform_conv_gradients(wrt):
    graph = _graph()
    feeds = _feeds()
    weights = th.constant(np.random.default_rng(1).standard_normal((2, 6, 3, 3)).astype(np.float32))
    cost = (graph.outputs[0] * weights).sum()
    target = graph[wrt]
    grad = th.function(graph.inputs, th.grad(cost, target))(*(feeds[n] for n in graph.input_names))
    f = th.function(graph.inputs, cost)
    rng = np.random.default_rng(2)
    for _ in range(4):
        index = tuple(int(rng.integers(0, s)) for s in feeds[wrt].shape)
        values = []
        for sign in (1, -1):
            moved = {k: v.astype(np.float64) for k, v in feeds.items()}
            moved[wrt][index] += sign * 1e-3
            values.append(f(*(moved[n].astype(np.float32) for n in graph.input_names)))
        np.testing.assert_allclose(grad[index], (values[0] - values[1]) / 2e-3, rtol=2e-2, atol=2e-2)

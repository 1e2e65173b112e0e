"""ONNX's random ops (codegen/onnx/import_random.py): distributions, seeds and fresh draws per call.

onnx's node tests expect NumPy's MT19937 draws, which theanine's Philox
streams do not reproduce; these tests check what ONNX specifies instead:
the distributions (moments, frequencies), shapes and dtypes, that a node's
``seed`` fixes its draws across loads, that each call draws anew, and
Dropout's training mode (fed at run time) with its mask and scaling.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

import theanine as th  # noqa: E402


def _load(nodes, inputs, outputs, shapes=None):
    graph = helper.make_graph(nodes, "random", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    return th.onnx.load(model, input_shapes=shapes)


def _info(name, dtype=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


@pytest.mark.parametrize("op", ["RandomUniform", "RandomNormal"])
def test_uniform_and_normal(op):
    attrs = {"low": -2.0, "high": 4.0} if op == "RandomUniform" else {"mean": 1.5, "scale": 0.5}
    graph = _load([helper.make_node(op, [], ["y"], shape=[200, 100], dtype=TensorProto.DOUBLE, seed=3.0, **attrs)],
                  [], [_info("y", TensorProto.DOUBLE)])
    f = th.function([], graph.outputs[0])
    first, second = f(), f()
    assert first.shape == (200, 100) and first.dtype == np.float64
    assert not np.array_equal(first, second)  # every call draws anew
    if op == "RandomUniform":
        assert first.min() >= -2.0 and first.max() < 4.0
        np.testing.assert_allclose([first.mean(), first.var()], [1.0, 36 / 12], rtol=0.03, atol=0.02)
    else:
        np.testing.assert_allclose([first.mean(), first.std()], [1.5, 0.5], rtol=0.02, atol=0.01)
    again = _load([helper.make_node(op, [], ["y"], shape=[200, 100], dtype=TensorProto.DOUBLE, seed=3.0, **attrs)],
                  [], [_info("y", TensorProto.DOUBLE)])
    np.testing.assert_array_equal(th.function([], again.outputs[0])(), first)  # the seed fixes the draws


def test_bernoulli_and_uniform_like():
    nodes = [helper.make_node("Bernoulli", ["p"], ["b"]), helper.make_node("RandomUniformLike", ["p"], ["u"])]
    graph = _load(nodes, [_info("p", shape=[4, 5000])], [_info("b"), _info("u")])
    p = np.repeat(np.array([[0.0], [0.2], [0.7], [1.0]], np.float32), 5000, axis=1)
    b, u = th.function(graph.inputs, graph.outputs)(p)
    assert b.dtype == np.float32 and u.shape == p.shape and u.dtype == np.float32
    np.testing.assert_allclose(b.mean(axis=1), [0.0, 0.2, 0.7, 1.0], atol=0.02)


def test_multinomial_frequencies():
    node = helper.make_node("Multinomial", ["logits"], ["y"], sample_size=20000, dtype=TensorProto.INT64)
    graph = _load([node], [_info("logits", shape=[2, 3])], [_info("y", TensorProto.INT64)])
    probabilities = np.array([[0.2, 0.5, 0.3], [0.05, 0.05, 0.9]])
    y = th.function(graph.inputs, graph.outputs[0])(np.log(probabilities).astype(np.float32))
    assert y.shape == (2, 20000) and y.dtype == np.int64
    frequencies = np.stack([np.bincount(row, minlength=3) / row.size for row in y])
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015)


@pytest.mark.parametrize("backend_name", ["numpy", "llvm"])
def test_training_dropout_fed_at_run_time(backend_name):
    node = helper.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"], seed=1)
    graph = _load([node], [_info("x", shape=[50, 400]), _info("ratio", shape=[]),
                           _info("training", TensorProto.BOOL, [])],
                  [_info("y"), _info("mask", TensorProto.BOOL)])
    f = th.function(graph.inputs, graph.outputs, backend=backend_name)
    x = np.random.default_rng(0).uniform(1, 2, (50, 400)).astype(np.float32)
    y, mask = f(x, np.float32(0.25), np.bool_(True))
    np.testing.assert_allclose(mask.mean(), 0.75, atol=0.01)
    np.testing.assert_allclose(y[mask], x[mask] / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(y[~mask], 0.0)
    y, mask = f(x, np.float32(0.25), np.bool_(False))  # inference: the identity and a full mask
    np.testing.assert_array_equal(y, x)
    assert mask.all()

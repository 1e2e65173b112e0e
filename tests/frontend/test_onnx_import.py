"""``th.onnx.load``: an exported model comes back as a graph that compiles, differentiates and fine-tunes."""

from __future__ import annotations

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models

onnx = pytest.importorskip("onnx")


def _exported(tmp_path, *stack, input_shape=(6,)):
    th.set_seed(4)
    model = models.Sequential([layers.Input(shape=input_shape), *stack])
    path = tmp_path / "model.onnx"
    model.export(path)
    return model, path


def test_a_loaded_model_computes_what_was_exported(tmp_path):
    model, path = _exported(tmp_path, layers.Conv1D(3, 2, padding="same", activation="relu"),
                            layers.LSTM(4), layers.Dense(3, activation="softmax"), input_shape=(5, 2))
    graph = th.onnx.load(path)
    assert graph.input_names == ["x0"] and len(graph.outputs) == 1
    assert graph.inputs[0].type.shape == (None, 5, 2)  # the batch stays dynamic
    x = np.random.default_rng(0).standard_normal((4, 5, 2)).astype("float32")
    np.testing.assert_allclose(graph.function()(x)[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(graph.function(backend="numpy")(x)[0], model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_gradients_match_finite_differences(tmp_path):
    _, path = _exported(tmp_path, layers.Dense(4, activation="tanh"), layers.Dense(2))
    graph = th.onnx.load(path)
    assert len(graph.weights) == 4  # two kernels, two biases: shared, trainable
    x = np.random.default_rng(1).standard_normal((3, 6)).astype("float32")


    loss = th.sum(graph.outputs[0] ** 2)
    grads = th.grad(loss, graph.weights)
    f = th.function(graph.inputs, grads)
    analytic = f(x)
    weight = graph.weights[0]
    base = weight.get_value()
    value = th.function(graph.inputs, loss)
    eps = 1e-3
    for index in [(0, 0), (2, 3), (5, 1)]:
        bumped = base.copy()
        bumped[index] += eps
        weight.set_value(bumped)
        up = value(x)
        bumped[index] -= 2 * eps
        weight.set_value(bumped)
        down = value(x)
        weight.set_value(base)
        np.testing.assert_allclose(analytic[0][index], (up - down) / (2 * eps), rtol=2e-2, atol=1e-3)


def test_an_imported_model_fine_tunes(tmp_path):
    _, path = _exported(tmp_path, layers.Dense(8, activation="relu"), layers.Dense(1))
    graph = th.onnx.load(path)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = (x @ rng.standard_normal((6, 1))).astype("float32")
    target = th.matrix("y", dtype="float32")
    loss = th.mean((graph.outputs[0] - target) ** 2)
    updates = [(w, w - 0.05 * g) for w, g in zip(graph.weights, th.grad(loss, graph.weights), strict=True)]
    train = th.function([*graph.inputs, target], loss, updates=updates)
    losses = [float(train(x, y)) for _ in range(60)]
    assert losses[-1] < 0.3 * losses[0]


def test_a_node_theanine_cannot_express_is_named(tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("GlobalLpPool", ["x"], ["y"], name="find_them")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(th.onnx.OnnxImportError, match="'find_them'.*GlobalLpPool is not supported"):
        th.onnx.load(model)


def test_a_file_that_is_not_an_onnx_model_is_named(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08garbage that is no protobuf")
    with pytest.raises(th.onnx.OnnxImportError, match=r"bad.onnx' is not an ONNX model"):
        th.onnx.load(bad)
    with pytest.raises(FileNotFoundError):
        th.onnx.load(tmp_path / "missing.onnx")


def test_function_of_a_model_with_carried_types_and_sequences_takes_and_returns_onnx_values():
    from onnx import TensorProto, helper

    ml_dtypes = pytest.importorskip("ml_dtypes")
    opset = [helper.make_opsetid("", 21)]
    cast = helper.make_model(helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)], "cast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [3])]), opset_imports=opset)
    x = np.array([1.0, 1.00390625, 3.3], "float32")
    (y,) = th.onnx.load(cast).function()(x)
    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y, x.astype(ml_dtypes.bfloat16))  # 1 + 2**-8 rounds to even: 1

    pair = helper.make_model(helper.make_graph(
        [helper.make_node("SequenceConstruct", ["a", "b"], ["s"])], "pair",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
        [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])]), opset_imports=opset)
    f = th.onnx.load(pair).function()
    ((first, second),) = f(np.ones(2, "float32"), b=np.arange(2, dtype="float32"))
    np.testing.assert_array_equal(first, [1, 1])
    np.testing.assert_array_equal(second, [0, 1])
    with pytest.raises(TypeError, match=r"missing model input\(s\) \['b'\]"):
        f(np.ones(2, "float32"))
    with pytest.raises(TypeError, match="unexpected or repeated input 'c'"):
        f(np.ones(2, "float32"), c=np.ones(2, "float32"))

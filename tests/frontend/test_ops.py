"""``theanine.frontend.ops`` (Keras' ``keras.ops``): eager on arrays, symbolic on tensors."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, ops


def test_ops_on_arrays_run_at_once_and_return_numpy():
    x = ops.ones((3, 3))
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and np.array_equal(x, np.ones((3, 3)))
    y = np.array([[1.0, -2.0], [3.0, 4.0]], "float32")
    assert np.allclose(ops.mean(ops.square(y - 1.0)), np.mean((y - 1.0) ** 2))
    assert np.array_equal(ops.relu(y), np.maximum(y, 0)) and np.allclose(ops.gelu(y), ops.gelu(th.constant(y)).eval())
    parts = ops.split(np.arange(6), 3)
    assert isinstance(parts, list) and [p.tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    values, indices = ops.top_k(np.array([3.0, 1.0, 2.0]), 2)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [0, 2]
    assert ops.shape(y) == (2, 2) and ops.ndim(y) == 2
    assert np.array_equal(ops.convert_to_numpy(ops.convert_to_tensor([1, 2])), [1, 2])
    assert ops.cond(True, lambda: 1, lambda: 2) == 1


def test_ops_on_tensors_build_graphs():
    x = th.tensor("x", "float32", (None, 3))
    total = ops.sum(ops.exp(x), axis=1)
    assert total.type.shape == (None,)
    batch, width = ops.shape(x)
    assert width == 3 and batch.ndim == 0
    zeros = ops.zeros((batch, 4))
    branch = ops.cond(ops.sum(x) > 0, lambda: x * 2, lambda: x - 1)
    f = th.function([x], [total, zeros, branch])
    value = np.array([[0.0, 1.0, 2.0], [-5.0, 0.0, 0.0]], "float32")
    t, z, b = f(value)
    assert np.allclose(t, np.exp(value).sum(1)) and z.shape == (2, 4) and np.allclose(b, value - 1)
    with pytest.raises(TypeError, match="true_fn and false_fn must be callables"):
        ops.cond(ops.sum(x) > 0, x, x)


def test_a_model_called_on_ops_ones_runs_eagerly():
    """The Sequential guide's first lines: ``y = model(ops.ones((3, 3)))``."""
    import theanine.frontend as keras

    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(4)])
    y = model(ops.ones((3, 3)))
    assert isinstance(y, np.ndarray) and y.shape == (3, 4)
    assert len(model.weights) == 4 and model.weights[0].shape == (3, 2)


def test_one_hot_takes_num_classes_and_axis():
    assert np.array_equal(ops.one_hot(np.array([0, 2]), num_classes=3), np.eye(3, dtype="float32")[[0, 2]])
    assert np.array_equal(ops.one_hot(np.array([0, 2]), 3, axis=0), np.eye(3, dtype="float32")[[0, 2]].T)


def test_cast_of_a_python_bool_warns_about_tensor_equality():
    a, b = th.vector("a"), th.vector("b")
    with pytest.warns(UserWarning, match="compares them as objects, not elementwise; use ops.equal"):
        ops.cast(a == b, "float32")
    assert ops.cast(ops.equal(a, b), "float32").dtype == "float32"

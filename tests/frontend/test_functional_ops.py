"""Operations on symbolic tensors inside functional models (automatic ``OperationLayer`` nodes).

Values against NumPy, the config and file round trips (the file loaded in a
fresh process), cloning, nesting, summary rows, and the errors for what a
functional model cannot hold (weights outside layers, foreign graph inputs,
an input as an output, an op that cannot be saved).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import theanine as th
import theanine.frontend as keras
from theanine.frontend import layers, ops
from theanine.frontend.layers.operation import OperationLayer
from theanine.graph.basic import Apply
from theanine.graph.op import Op


def _gap_model():
    """The brief's example: operators and keras.ops between two Dense layers."""
    inputs = keras.Input((16,))
    h = layers.Dense(16)(inputs)
    x = h + inputs
    x = keras.ops.relu(x) * 0.5
    x = keras.ops.mean(x[:, :8], axis=-1, keepdims=True)
    x = keras.ops.concatenate([x, inputs], axis=-1)
    outputs = layers.Dense(1)(x)
    return keras.Model(inputs, outputs)


def _gap_numpy(model, x):
    w1, b1, w2, b2 = model.get_weights()
    h = x @ w1 + b1
    y = np.maximum(h + x, 0) * 0.5
    y = y[:, :8].mean(axis=-1, keepdims=True)
    return np.concatenate([y, x], axis=-1) @ w2 + b2


def _data(rng, n=32):
    x = rng.normal(size=(n, 16)).astype("float32")
    return x, (x[:, :1] * 0.7 - x[:, 3:4] * 0.2).astype("float32")


def test_gap_example_trains_predicts_like_numpy_and_summarizes(rng):
    th.set_seed(3)
    model = _gap_model()
    x, y = _data(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0), _gap_numpy(model, x), rtol=1e-5, atol=1e-6)
    model.compile("adam", "mse")
    losses = model.fit(x, y, epochs=8, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), _gap_numpy(model, x), rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers] == ["input_layer", "dense", "dense_1"]
    op_layers = [layer for layer in model.operations if isinstance(layer, OperationLayer)]
    assert [layer.name for layer in op_layers] == ["concatenate"]
    assert op_layers[0].operations == ["add", "relu", "multiply", "get_item", "sum", "dimshuffle",
                                       "true_divide", "concatenate"]
    lines = []
    model.summary(positions=[100, 120, 130, 170], print_fn=lines.append)
    assert "concatenate (add, relu, multiply, get_item, sum, dimshuffle, true_divide, concatenate)" in lines[0]
    assert "dense[0][0], input_layer[0][0]" in lines[0]


def test_gap_example_config_clone_and_nesting_compute_the_same(rng):
    model = _gap_model()
    x, _ = _data(rng, 8)
    expected = model.predict(x, verbose=0)
    rebuilt = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), expected)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)
    outer_input = keras.Input((16,))
    outer = keras.Model(outer_input, model(outer_input) * 2.0 - 1.0)
    np.testing.assert_allclose(outer.predict(x, verbose=0), expected * 2 - 1, rtol=1e-6, atol=1e-6)


def test_gradients_through_operations_match_finite_differences(rng):
    with th.config.context(floatX="float64"):
        model = _gap_model()
        x = th.tensor("x", shape=(None, 16))
        kernel = model.layers[1].kernel
        gradient = th.function([x], th.grad(th.sum(model(x) ** 2), kernel))
        data = rng.normal(size=(4, 16))
        got, start, eps = gradient(data), kernel.get_value(), 1e-6
        assert np.abs(got).max() > 0

        def cost_with(i, j, shift):
            shifted = start.copy()
            shifted[i, j] += shift
            kernel.set_value(shifted)
            return float((_gap_numpy(model, data) ** 2).sum())

        for i, j in [(0, 0), (3, 5), (15, 2)]:
            numeric = (cost_with(i, j, eps) - cost_with(i, j, -eps)) / (2 * eps)
            np.testing.assert_allclose(got[i, j], numeric, rtol=1e-5, atol=1e-8)


_LOAD_AND_PREDICT = """
import sys
import numpy as np
import theanine.frontend as keras
model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


def test_saved_model_loads_in_a_fresh_process_with_identical_predictions(rng, tmp_path):
    model = _gap_model()
    model.compile("adam", "mse")
    x, y = _data(rng, 8)
    model.fit(x, y, epochs=1, verbose=0)
    path, data, out = tmp_path / "model.keras", tmp_path / "x.npy", tmp_path / "y.npy"
    model.save(path)
    np.save(data, x)
    subprocess.run([sys.executable, "-c", _LOAD_AND_PREDICT, str(path), str(data), str(out)],
                   check=True, timeout=120)
    np.testing.assert_array_equal(np.load(out), model.predict(x, verbose=0))


_MATRIX = np.arange(18, dtype="float32").reshape(6, 3) / 10
"""A constant captured by ``@``."""

_CASES = [
    ("add", lambda a, b, p: a + b, lambda a, b, p: a + b),
    ("subtract", lambda a, b, p: a - b, lambda a, b, p: a - b),
    ("reverse subtract", lambda a, b, p: 2.0 - a, lambda a, b, p: 2.0 - a),
    ("multiply", lambda a, b, p: a * b, lambda a, b, p: a * b),
    ("divide", lambda a, b, p: a / p, lambda a, b, p: a / p),
    ("reverse divide", lambda a, b, p: 1.0 / p, lambda a, b, p: 1.0 / p),
    ("floor divide", lambda a, b, p: a // p, lambda a, b, p: a // p),
    ("power", lambda a, b, p: p ** b, lambda a, b, p: p ** b),
    ("matmul operator", lambda a, b, p: a @ _MATRIX, lambda a, b, p: a @ _MATRIX),
    ("negative", lambda a, b, p: -a, lambda a, b, p: -a),
    ("abs", lambda a, b, p: abs(a), lambda a, b, p: np.abs(a)),
    ("greater", lambda a, b, p: ops.cast(a > b, "float32"), lambda a, b, p: (a > b).astype("float32")),
    ("less", lambda a, b, p: ops.cast(a < b, "float32"), lambda a, b, p: (a < b).astype("float32")),
    ("greater_equal", lambda a, b, p: ops.cast(a >= 0, "float32"), lambda a, b, p: (a >= 0).astype("float32")),
    ("less_equal", lambda a, b, p: ops.cast(a <= b, "float32"), lambda a, b, p: (a <= b).astype("float32")),
    ("equal", lambda a, b, p: ops.cast(ops.equal(a[:, :1], a), "float32"),
     lambda a, b, p: (a[:, :1] == a).astype("float32")),
    ("slice", lambda a, b, p: a[:, 1:3], lambda a, b, p: a[:, 1:3]),
    ("ellipsis index", lambda a, b, p: a[..., 0], lambda a, b, p: a[..., 0]),
    ("strided slice", lambda a, b, p: b[:, ::-2], lambda a, b, p: b[:, ::-2]),
    ("relu", lambda a, b, p: ops.relu(a), lambda a, b, p: np.maximum(a, 0)),
    ("sigmoid", lambda a, b, p: ops.sigmoid(a), lambda a, b, p: 1 / (1 + np.exp(-a))),
    ("tanh", lambda a, b, p: ops.tanh(a), lambda a, b, p: np.tanh(a)),
    ("exp", lambda a, b, p: ops.exp(a), lambda a, b, p: np.exp(a)),
    ("log", lambda a, b, p: ops.log(p), lambda a, b, p: np.log(p)),
    ("sqrt", lambda a, b, p: ops.sqrt(p), lambda a, b, p: np.sqrt(p)),
    ("square", lambda a, b, p: ops.square(a), lambda a, b, p: a * a),
    ("mean", lambda a, b, p: ops.mean(a, axis=-1), lambda a, b, p: a.mean(axis=-1)),
    ("sum", lambda a, b, p: ops.sum(a, axis=1, keepdims=True), lambda a, b, p: a.sum(axis=1, keepdims=True)),
    ("max", lambda a, b, p: ops.max(a, axis=-1), lambda a, b, p: a.max(axis=-1)),
    ("min", lambda a, b, p: ops.min(b, axis=1), lambda a, b, p: b.min(axis=1)),
    ("concatenate", lambda a, b, p: ops.concatenate([a, b], axis=-1), lambda a, b, p: np.concatenate([a, b], -1)),
    ("stack", lambda a, b, p: ops.stack([a, b], axis=1), lambda a, b, p: np.stack([a, b], 1)),
    ("reshape", lambda a, b, p: ops.reshape(a, (-1, 2, 3)), lambda a, b, p: a.reshape(-1, 2, 3)),
    ("transpose", lambda a, b, p: ops.transpose(ops.reshape(a, (-1, 2, 3)), (0, 2, 1)),
     lambda a, b, p: a.reshape(-1, 2, 3).transpose(0, 2, 1)),
    ("expand_dims", lambda a, b, p: ops.expand_dims(a, 1), lambda a, b, p: a[:, None]),
    ("squeeze", lambda a, b, p: ops.squeeze(ops.expand_dims(a, -1), axis=-1), lambda a, b, p: a),
    ("matmul", lambda a, b, p: ops.matmul(ops.expand_dims(a, 2), ops.expand_dims(b, 1)),
     lambda a, b, p: a[:, :, None] @ b[:, None, :]),
    ("einsum", lambda a, b, p: ops.einsum("bi,bi->b", a, b), lambda a, b, p: (a * b).sum(-1)),
    ("softmax", lambda a, b, p: ops.softmax(a), lambda a, b, p: np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
    ("cast", lambda a, b, p: ops.cast(p * 3, "int32"), lambda a, b, p: (p * 3).astype("int32")),
    ("where", lambda a, b, p: ops.where(a > b, a, b * 2), lambda a, b, p: np.where(a > b, a, b * 2)),
]


def test_operators_and_keras_ops_compute_like_numpy_and_survive_the_config(rng):
    a, b, p = (keras.Input((6,), name=name) for name in "abp")
    model = keras.Model([a, b, p], [symbolic(a, b, p) for _, symbolic, _ in _CASES])
    values = [rng.normal(size=(5, 6)).astype("float32") for _ in range(2)]
    values.append(np.abs(values[0]).astype("float32") + 0.5)
    rebuilt = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    results, reloaded = model.predict(values, verbose=0), rebuilt.predict(values, verbose=0)
    for (name, _, numpy_fn), got, again in zip(_CASES, results, reloaded, strict=True):
        expected = numpy_fn(*values)
        assert got.dtype == expected.dtype, name
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(again, got, err_msg=name)


def test_residual_blocks_written_with_plus_match_numpy(rng):
    inputs = keras.Input((6,))
    x, blocks = inputs, [layers.Dense(6, activation="tanh") for _ in range(3)]
    for block in blocks:
        x = x + block(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    data = rng.normal(size=(4, 6)).astype("float32")
    expected = data
    for block in blocks:
        kernel, bias = block.get_weights()
        expected = expected + np.tanh(expected @ kernel + bias)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(data, verbose=0), expected @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.operations if isinstance(layer, OperationLayer)] == ["add", "add_1", "add_2"]


def test_a_tensor_read_by_two_layers_is_one_operation_node():
    inputs = keras.Input((4,))
    x = inputs * 2.0
    model = keras.Model(inputs, [layers.Dense(2)(x), layers.Dense(3)(x), x - 1.0])
    op_layers = [layer for layer in model.operations if isinstance(layer, OperationLayer)]
    assert [layer.name for layer in op_layers] == ["multiply", "subtract"]
    assert len(op_layers[0]._inbound_nodes) == 1


def test_integer_inputs_keep_their_dtype_through_operations():
    inputs = keras.Input((3,), dtype="int32")
    model = keras.Model(inputs, ops.cast(inputs * 3 + 1, "float32") / 2)
    data = np.array([[1, 2, 3]], dtype="int32")
    np.testing.assert_array_equal(model.predict(data, verbose=0), (data * 3 + 1) / np.float32(2))


def test_sequential_models_have_no_operation_layers():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(2)])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert "graph" not in json.dumps(model.get_config())


def test_an_output_that_is_an_input_is_refused():
    a = keras.Input((3,), name="a")
    with pytest.raises(ValueError, match=r"outputs\[0\] is the input 'a' itself"):
        keras.Model(a, a)


def test_an_input_not_listed_is_named():
    a, c = keras.Input((3,), name="a"), keras.Input((3,), name="dangling")
    with pytest.raises(ValueError, match="Graph disconnected.*'dangling'"):
        keras.Model(a, layers.Dense(3)(a) + c)


def test_weights_outside_layers_are_refused_with_their_name():
    a = keras.Input((3,))
    weight = th.shared(np.ones(3, dtype="float32"), name="scale")
    with pytest.raises(ValueError, match=r"Model outputs\[0\]: the operation .* reads the shared variable 'scale'"):
        keras.Model(a, a * weight)
    dense = layers.Dense(3)
    h = dense(a)
    with pytest.raises(ValueError, match=r"layer 'dense_.*shared variable .*kernel.*must live in layers"):
        layers.Dense(2, name="dense_after")(h @ dense.kernel)


def test_graph_inputs_foreign_to_the_model_are_refused():
    a = keras.Input((3,))
    foreign = th.tensor("foreign", shape=(None, 3))
    with pytest.raises(ValueError, match="'foreign'.*neither from layers.Input nor from a layer call"):
        keras.Model(a, a + foreign)
    with pytest.raises(ValueError, match=r"outputs\[0\] must be a tensor computed from layers.Input"):
        keras.Model(a, foreign * 2.0)


class Doubled(Op):
    """An op outside theanine.graph (the config cannot name it safely)."""

    def make_node(self, x):
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0] * 2]


def test_an_op_that_cannot_be_saved_is_named(tmp_path):
    a = keras.Input((3,))
    model = keras.Model(a, layers.Dense(2)(Doubled()(a)))
    with pytest.raises(ValueError, match=r"operation layer 'doubled': the op Doubled created at .*test_functional_ops"):
        model.get_config()
    with pytest.raises(ValueError, match="only ops of theanine.graph"):
        model.save(tmp_path / "model.keras")
    assert not (tmp_path / "model.keras").exists()


def test_a_config_naming_a_module_outside_theanine_graph_is_refused():
    a = keras.Input((3,))
    config = keras.Model(a, a * 2.0).get_config()
    graph = config["layers"][-1]["config"]["graph"]
    graph["nodes"][-1]["op"]["class"] = "os.system"
    with pytest.raises(ValueError, match=r"ops are looked up in theanine.graph only. Received: 'os.system'"):
        keras.Model.from_config(config)


def test_elementwise_operations_pass_masks_on_and_reductions_drop_them():
    ids = keras.Input((4,), dtype="int32")
    embedded = layers.Embedding(6, 3, mask_zero=True)(ids)
    pooled = layers.GlobalAveragePooling1D()(ops.tanh(embedded) * 2.0)
    model = keras.Model(ids, [pooled, layers.GlobalAveragePooling1D()(embedded[:, ::-1])])
    data = np.array([[1, 2, 0, 0], [3, 0, 4, 5]], dtype="int32")
    table = model.layers[1].get_weights()[0]
    values = np.tanh(table[data]) * 2
    keep = (data != 0)[..., None]
    masked, unmasked = model.predict(data, verbose=0)
    np.testing.assert_allclose(masked, (values * keep).sum(1) / keep.sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(unmasked, table[data].mean(1), rtol=1e-5, atol=1e-6)
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    for again, got in zip(rebuilt.predict(data, verbose=0), (masked, unmasked), strict=True):
        np.testing.assert_array_equal(again, got)


def test_transformer_block_with_dict_outputs_and_multi_output_ops(rng):
    inputs = keras.Input((5, 8))
    x = layers.LayerNormalization()(inputs + layers.MultiHeadAttention(2, 4)(inputs, inputs))
    x = x + layers.Dense(8)(x)
    flat = ops.reshape(x, (ops.shape(x)[0], -1))
    values, indices = ops.top_k(flat, 3)
    first, second = ops.split(flat, 2, axis=-1)
    outputs = {"flat": flat, "top": values, "top_at": indices, "halves": first - second,
               "argmax": ops.argmax(flat, axis=-1), "cumsum": ops.cumsum(flat, axis=1),
               "clip": ops.clip(flat, -0.5, 0.5), "take": ops.take(flat, [0, 2], axis=1)}
    model = keras.Model(inputs, outputs)
    data = rng.normal(size=(3, 5, 8)).astype("float32")
    got = model.predict(data, verbose=0)
    y = got["flat"]
    assert y.shape == (3, 40)
    np.testing.assert_allclose(got["top"], -np.sort(-y, axis=-1)[:, :3], rtol=1e-6)
    np.testing.assert_array_equal(got["top_at"], np.argsort(-y, axis=-1, kind="stable")[:, :3])
    np.testing.assert_allclose(got["halves"], y[:, :20] - y[:, 20:], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["argmax"], y.argmax(-1))
    np.testing.assert_allclose(got["cumsum"], np.cumsum(y, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got["clip"], np.clip(y, -0.5, 0.5))
    np.testing.assert_array_equal(got["take"], y[:, [0, 2]])
    rebuilt = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    rebuilt.set_weights(model.get_weights())
    again = rebuilt.predict(data, verbose=0)
    for key, value in got.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_a_model_ending_in_operations_nests_and_clones_with_its_operations_shared():
    a, b = keras.Input((3,)), keras.Input((3,))
    inner = keras.Model(a, ops.sqrt(ops.abs(layers.Dense(3)(a * 2.0))) + 1.0)
    outer = keras.Model(b, inner(b) - 1.0)
    data = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    kernel, bias = inner.get_weights()
    expected = np.sqrt(np.abs((data * 2) @ kernel + bias))
    np.testing.assert_allclose(outer.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)
    cloned_layers = []

    def clone(layer):
        cloned_layers.append(layer.name)
        return layer.from_config(layer.get_config())

    copy = keras.models.clone_model(inner, clone_function=clone)
    assert cloned_layers == ["dense"]
    op_layers = [layer for layer in inner.operations if isinstance(layer, OperationLayer)]
    assert [layer for layer in copy.operations if isinstance(layer, OperationLayer)] == op_layers
    copy.set_weights(inner.get_weights())
    np.testing.assert_allclose(copy.predict(data, verbose=0), expected + 1, rtol=1e-5, atol=1e-6)


def test_a_constant_whose_bytes_do_not_match_its_shape_is_refused():
    a = keras.Input((3,))
    config = keras.Model(a, a + np.arange(3, dtype="float32")).get_config()
    config["layers"][-1]["config"]["graph"]["constants"][0]["data_shape"] = [4]
    with pytest.raises(ValueError, match=r"a constant of dtype float32 and shape \(4,\) does not match its 12 bytes"):
        keras.Model.from_config(config)


def test_a_mask_computed_by_operations_is_a_tensor_of_the_graph():
    ids = keras.Input((4,), dtype="int32")
    vectors = layers.Embedding(6, 2)(ids)
    model = keras.Model(ids, layers.GlobalAveragePooling1D()(vectors, mask=ops.not_equal(ids, 0)))
    data = np.array([[1, 2, 0, 0], [3, 0, 4, 5]], dtype="int32")
    keep = (data != 0)[..., None]
    embedded = model.layers[1].get_weights()[0][data]
    expected = (embedded * keep).sum(1) / keep.sum(1)
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0))

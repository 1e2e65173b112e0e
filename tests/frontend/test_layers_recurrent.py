"""Recurrent layers: SimpleRNN, LSTM, GRU, RNN(cell), Bidirectional, TimeDistributed, Masking.

Values are checked against an independent NumPy implementation of Keras'
equations (keras_rnn_reference.py) with weights in Keras' layout, masks
included; then training, dropout, saving and summaries.
"""

import numpy as np
import pytest
from keras_rnn_reference import gru_step, lstm_step, run_rnn, simple_rnn_step  # noqa: I001

import theanine as th
from theanine.frontend import layers, models, optimizers
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.scan_op import Scan

R = np.random.default_rng(21)
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 6

CASES = {
    "SimpleRNN": (layers.SimpleRNN, simple_rnn_step, 1, {}),
    "LSTM": (layers.LSTM, lstm_step, 2, {}),
    "GRU": (layers.GRU, gru_step, 1, {}),
    "GRU_reset_before": (layers.GRU, gru_step, 1, {"reset_after": False}),
}


@pytest.fixture(autouse=True)
def _float64_models():
    """Models compute in floatX: float64 here, so values compare at 1e-10."""
    with th.config.context(floatX="float64"):
        yield


def _data(dtype="float64"):
    return R.standard_normal((BATCH, STEPS, FEATURES)).astype(dtype)


def _keras_weights(layer):
    """Random arrays of the shapes Keras' layer has, in Keras' order."""
    return [R.standard_normal(w.get_value().shape) * 0.5 for w in layer.weights]


def _model(layer, shape=(STEPS, FEATURES), dtype="float64", **input_options):
    inputs = layers.Input(shape, dtype=dtype, **input_options)
    return models.Model(inputs, layer(inputs))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_match_keras_equations(case, return_sequences, go_backwards):
    cls, step, n_states, options = CASES[case]
    layer = cls(UNITS, return_sequences=return_sequences, go_backwards=go_backwards, dtype="float64", **options)
    model = _model(layer)
    weights = _keras_weights(layer)
    layer.set_weights(weights)
    x = _data()
    expected, _ = run_rnn(step, x, weights, [np.zeros((BATCH, UNITS))] * n_states, go_backwards=go_backwards,
                          return_sequences=return_sequences, **options)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12)


def test_weight_layouts_follow_keras():
    shapes = {name: [tuple(w.get_value().shape) for w in _built(cls(UNITS, **opts)).weights]
              for name, (cls, _, _, opts) in CASES.items()}
    assert shapes["SimpleRNN"] == [(FEATURES, UNITS), (UNITS, UNITS), (UNITS,)]
    assert shapes["LSTM"] == [(FEATURES, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,)]
    assert shapes["GRU"] == [(FEATURES, 3 * UNITS), (UNITS, 3 * UNITS), (2, 3 * UNITS)]
    assert shapes["GRU_reset_before"][2] == (3 * UNITS,)
    lstm = _built(layers.LSTM(UNITS))
    np.testing.assert_array_equal(lstm.weights[2].get_value()[UNITS:2 * UNITS], 1.0)


def _built(layer):
    layer(th.tensor("x", "float32", (None, STEPS, FEATURES)))
    return layer


@pytest.mark.parametrize("case", ["LSTM", "GRU"])
def test_return_state_and_initial_state(case):
    cls, step, n_states, options = CASES[case]
    layer = cls(UNITS, return_sequences=True, return_state=True, dtype="float64", **options)
    x_in = layers.Input((STEPS, FEATURES), dtype="float64")
    states_in = [layers.Input((UNITS,), dtype="float64") for _ in range(n_states)]
    outputs = layer(x_in, initial_state=states_in)
    assert len(outputs) == 1 + n_states
    model = models.Model([x_in, *states_in], outputs)
    weights = _keras_weights(layer)
    layer.set_weights(weights)
    x, states = _data(), [R.standard_normal((BATCH, UNITS)) for _ in range(n_states)]
    got = model.predict([x, *states], verbose=0)
    expected, finals = run_rnn(step, x, weights, states, return_sequences=True, **options)
    np.testing.assert_allclose(got[0], expected, rtol=1e-10, atol=1e-12)
    for g, f in zip(got[1:], finals, strict=True):
        np.testing.assert_allclose(g, f, rtol=1e-10, atol=1e-12)


def _padded_ids():
    ids = R.integers(1, 9, size=(BATCH, STEPS))
    ids[0, 3:] = 0
    ids[1, :1] = 0
    ids[2, 2] = 0
    return ids


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_embedding_mask_is_respected(case, return_sequences):
    cls, step, n_states, options = CASES[case]
    ids_in = layers.Input((STEPS,), dtype="int64")
    embedding = layers.Embedding(9, FEATURES, mask_zero=True, dtype="float64")
    rnn = cls(UNITS, return_sequences=return_sequences, dtype="float64", **options)
    out = rnn(embedding(ids_in))
    assert (getattr(out, "_keras_mask", None) is not None) == return_sequences
    model = models.Model(ids_in, out)
    weights = _keras_weights(rnn)
    rnn.set_weights(weights)
    ids = _padded_ids()
    x = embedding.get_weights()[0][ids]
    expected, _ = run_rnn(step, x, weights, [np.zeros((BATCH, UNITS))] * n_states, mask=ids != 0,
                          return_sequences=return_sequences, **options)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-10, atol=1e-12)


def test_masking_layer_marks_padded_steps():
    x = _data()
    x[0, 2:] = 0.0
    model = _model(_Chain([layers.Masking(0.0), layers.SimpleRNN(UNITS, dtype="float64")]))
    rnn = model.layers[1].parts[1]
    weights = _keras_weights(rnn)
    rnn.set_weights(weights)
    expected, _ = run_rnn(simple_rnn_step, x, weights, [np.zeros((BATCH, UNITS))], mask=np.any(x != 0, axis=-1))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12)


class _Chain(layers.Layer):
    """Calls its parts in order (a layer made of layers, passing masks along)."""

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.parts = parts

    def call(self, inputs):
        for part in self.parts:
            inputs = part(inputs)
        return inputs


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_modes_with_masks(merge_mode, return_sequences):
    ids_in = layers.Input((STEPS,), dtype="int64")
    embedding = layers.Embedding(9, FEATURES, mask_zero=True, dtype="float64")
    wrapper = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=return_sequences, dtype="float64"),
                                   merge_mode=merge_mode)
    model = models.Model(ids_in, wrapper(embedding(ids_in)))
    assert wrapper.forward_layer.name.startswith("forward_") and wrapper.backward_layer.name.startswith("backward_")
    forward, backward = _keras_weights(wrapper.forward_layer), _keras_weights(wrapper.backward_layer)
    wrapper.set_weights(forward + backward)
    ids = _padded_ids()
    x, mask = embedding.get_weights()[0][ids], ids != 0
    zeros = [np.zeros((BATCH, UNITS))] * 2
    options = dict(mask=mask, return_sequences=return_sequences, zero_output_for_mask=return_sequences)
    y, _ = run_rnn(lstm_step, x, forward, zeros, **options)
    y_rev, _ = run_rnn(lstm_step, x, backward, zeros, go_backwards=True, **options)
    if return_sequences:
        y_rev = y_rev[:, ::-1]
    expected = {"concat": lambda: np.concatenate([y, y_rev], -1), "sum": lambda: y + y_rev,
                "mul": lambda: y * y_rev, "ave": lambda: (y + y_rev) / 2, None: lambda: [y, y_rev]}[merge_mode]()
    got = model.predict(ids, verbose=0)
    for g, e in zip(got if merge_mode is None else [got], expected if merge_mode is None else [expected],
                    strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_bidirectional_return_state_and_weight_order():
    wrapper = layers.Bidirectional(layers.GRU(UNITS, return_state=True, dtype="float64"))
    outputs = wrapper(layers.Input((STEPS, FEATURES), dtype="float64"))
    assert len(outputs) == 3 and outputs[0].type.shape == (None, 2 * UNITS)
    names = [w.name for w in wrapper.weights]
    assert len(names) == 6 and wrapper.forward_layer.name.startswith("forward_")
    assert wrapper.backward_layer.go_backwards and not wrapper.forward_layer.go_backwards


def test_time_distributed_dense_and_loss_mask():
    ids_in = layers.Input((STEPS,), dtype="int64")
    hidden = layers.LSTM(UNITS, return_sequences=True, dtype="float64")(
        layers.Embedding(9, FEATURES, mask_zero=True, dtype="float64")(ids_in))
    dense = layers.TimeDistributed(layers.Dense(2, dtype="float64"), dtype="float64")
    out = dense(hidden)
    assert out.type.shape == (None, STEPS, 2) and getattr(out, "_keras_mask", None) is not None
    model = models.Model(ids_in, out)
    model.compile(optimizer="sgd", loss="mse")
    ids, targets = _padded_ids(), R.standard_normal((BATCH, STEPS, 2))
    predictions = model.predict(ids, verbose=0)
    np.testing.assert_allclose(predictions, model.predict(ids, verbose=0))
    kernel, bias = dense.layer.get_weights()
    hidden_values = th.function([ids_in], hidden)(ids)
    np.testing.assert_allclose(predictions, hidden_values @ kernel + bias, rtol=1e-10)
    per_step, valid = ((targets - predictions) ** 2).mean(-1), ids != 0
    expected = (per_step * valid).sum() / valid.sum()
    assert model.evaluate(ids, targets, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_dropout_only_in_training_and_training_learns():
    th.set_seed(0)
    model = models.Sequential([layers.Input((STEPS, FEATURES)), layers.LSTM(8, dropout=0.3, recurrent_dropout=0.3),
                               layers.Dense(1)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.02), loss="mse")
    x = R.standard_normal((32, STEPS, FEATURES)).astype("float32")
    y = x[:, :, 0].sum(axis=1, keepdims=True) / np.sqrt(STEPS)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    history = model.fit(x, y, epochs=25, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_gradients_reach_every_weight_and_match_finite_differences():
    layer = layers.GRU(3, return_sequences=True, dtype="float64")
    x = th.tensor("x", "float64", (None, 4, 2))
    out = layer(x)
    weights = layer.weights
    data = R.standard_normal((2, 4, 2))
    grads = th.function([x], th.grad((out ** 2).sum(), weights))(data)
    base = [w.get_value() for w in weights]
    kernel = base[0].copy()
    eps = 1e-6
    kernel[1, 2] += eps
    plus = _cost(layer, x, out, [kernel, *base[1:]], data)
    kernel[1, 2] -= 2 * eps
    minus = _cost(layer, x, out, [kernel, *base[1:]], data)
    layer.set_weights(base)
    assert grads[0][1, 2] == pytest.approx((plus - minus) / (2 * eps), rel=1e-5)
    assert all(np.abs(g).sum() > 0 for g in grads)


def _cost(layer, x, out, values, data):
    layer.set_weights(values)
    return th.function([x], (out ** 2).sum())(data)


def test_input_projection_leaves_the_compiled_loop():
    layer = layers.LSTM(UNITS, return_sequences=True)
    x = th.tensor("x", "float32", (None, STEPS, FEATURES))
    f = th.function([x], layer(x))
    (scan,) = [n for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Scan)]
    kernels = {id(w) for w in layer.weights[:1]}
    assert not any(id(v) in kernels for v in scan.inputs), "the kernel is used before the loop, not in it"


class _PeepholeCell(layers.Layer):
    """A custom cell whose output is not its state: out = 2 h."""

    state_size = 2
    output_size = 2

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], 2), initializer="ones", name="kernel")

    def call(self, inputs, states):
        h = th.tanh(inputs @ self.kernel + states[0])
        return 2.0 * h, [h]


def test_rnn_with_a_custom_cell():
    rnn = layers.RNN(_PeepholeCell(dtype="float64"), return_sequences=True, dtype="float64")
    model = _model(rnn)
    x = _data()
    h, expected = np.zeros((BATCH, 2)), []
    for t in range(STEPS):
        h = np.tanh(x[:, t] @ np.ones((FEATURES, 2)) + h)
        expected.append(2 * h)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.stack(expected, 1), rtol=1e-12)


@pytest.mark.parametrize("cell_class, layer_class", [(layers.LSTMCell, layers.LSTM), (layers.GRUCell, layers.GRU),
                                                     (layers.SimpleRNNCell, layers.SimpleRNN)])
def test_rnn_of_a_cell_equals_the_layer(cell_class, layer_class):
    wrapped = layers.RNN(cell_class(UNITS, dtype="float64"), return_sequences=True, dtype="float64")
    layer = layer_class(UNITS, return_sequences=True, dtype="float64")
    first, second = _model(wrapped), _model(layer)
    layer.set_weights(wrapped.get_weights())
    x = _data()
    np.testing.assert_allclose(first.predict(x, verbose=0), second.predict(x, verbose=0), rtol=1e-12)
    again = layers.RNN.from_config(wrapped.get_config())
    assert type(again.cell) is cell_class and again.cell.units == UNITS and again.return_sequences


def test_save_load_config_and_summary(tmp_path, capsys):
    model = models.Sequential([
        layers.Input((STEPS,), dtype="int64"),
        layers.Embedding(9, FEATURES, mask_zero=True),
        layers.Bidirectional(layers.GRU(UNITS, return_sequences=True), merge_mode="sum"),
        layers.TimeDistributed(layers.Dense(3)),
        layers.SimpleRNN(4),
    ])
    model.compile(optimizer="adam", loss="mse")
    ids = _padded_ids()
    expected = model.predict(ids, verbose=0)
    path = tmp_path / "rnn.keras"
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-6)
    model.summary()
    text = capsys.readouterr().out
    assert "Bidirectional" in text and "TimeDistributed" in text and "SimpleRNN" in text
    config = layers.LSTM(5, return_sequences=True, go_backwards=True, dropout=0.2).get_config()
    again = layers.LSTM.from_config(config)
    assert again.units == 5 and again.go_backwards and again.dropout == 0.2 and again.return_sequences


def test_errors_name_what_was_received():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        layers.LSTM(3)(th.tensor("x", "float32", (None, 4)))
    with pytest.raises(ValueError, match="initial_state gives 1"):
        layers.LSTM(3)(th.tensor("x", "float32", (None, 2, 4)), initial_state=[th.matrix("h")])
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="expected a positive integer"):
        layers.GRU(0)
    with pytest.raises(ValueError, match="dropout must be in"):
        layers.SimpleRNN(3, dropout=1.5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_dropout_masks_apply_where_keras_applies_them(case):
    """Input mask on x_t, state mask on h_{t-1} where it enters a product (the GRU's mix and the
    LSTM's carry use the undropped state)."""
    cls, step, n_states, options = CASES[case]
    cell = _built(cls(UNITS, dtype="float64", **options)).cell
    weights = _keras_weights(cell)
    cell.set_weights(weights)
    x, states = R.standard_normal((BATCH, FEATURES)), [R.standard_normal((BATCH, UNITS)) for _ in range(n_states)]
    input_mask, state_mask = [(R.uniform(size=(BATCH, n)) > 0.3) * 1.5 for n in (FEATURES, UNITS)]
    cell._masks = (th.constant(input_mask), th.constant(state_mask))
    symbols = [th.constant(s) for s in states]
    output, _ = cell.call(th.constant(x), symbols if n_states > 1 else symbols[:1])
    cell.reset_dropout()
    expected = _dropped_step(case, step, x * input_mask, states, state_mask, weights, options)
    np.testing.assert_allclose(th.function([], output)(), expected, rtol=1e-12)


def _dropped_step(case, step, x, states, state_mask, weights, options):
    kernel, recurrent, bias = weights
    h = states[0]
    if case == "SimpleRNN":
        return step(x, [h * state_mask], *weights)[0]
    if case == "LSTM":
        return step(x, [h * state_mask, states[1]], *weights)[0]
    units = h.shape[-1]
    if options.get("reset_after", True):
        x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3, axis=-1)
        r_z, r_r, r_h = np.split((h * state_mask) @ recurrent + bias[1], 3, axis=-1)
        z, r = 1 / (1 + np.exp(-(x_z + r_z))), 1 / (1 + np.exp(-(x_r + r_r)))
        hh = np.tanh(x_h + r * r_h)
    else:
        x_z, x_r, x_h = np.split(x @ kernel + bias, 3, axis=-1)
        dropped = h * state_mask
        z = 1 / (1 + np.exp(-(x_z + dropped @ recurrent[:, :units])))
        r = 1 / (1 + np.exp(-(x_r + dropped @ recurrent[:, units:2 * units])))
        hh = np.tanh(x_h + (r * dropped) @ recurrent[:, 2 * units:])
    return z * h + (1 - z) * hh


def _set_keras_weights(layer):
    weights = [R.standard_normal(w.get_value().shape) * 0.5 for w in layer.trainable_weights]
    for variable, value in zip(layer.trainable_weights, weights, strict=True):
        variable.set_value(value)
    return weights


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stateful_layer_carries_its_states_from_batch_to_batch(case):
    """Two calls on the halves of a sequence give what one call on the whole gives; reset_state zeroes."""
    cls, step, n_states, options = CASES[case]
    layer = cls(UNITS, stateful=True, return_sequences=True, dtype="float64", **options)
    model = _model(layer, shape=(None, FEATURES), batch_size=BATCH)
    weights = _set_keras_weights(layer)
    x = _data()
    expected, finals = run_rnn(step, x, weights, [np.zeros((BATCH, UNITS))] * n_states, return_sequences=True,
                               **options)
    halves = [model.predict(x[:, :2], verbose=0), model.predict(x[:, 2:], verbose=0)]
    np.testing.assert_allclose(np.concatenate(halves, axis=1), expected, rtol=1e-10, atol=1e-12)
    for variable, final in zip(layer.states, finals, strict=True):
        np.testing.assert_allclose(variable.get_value(), final, rtol=1e-10, atol=1e-12)
    eager = layer(x)  # an eager call goes on from where the states are, and moves them on
    np.testing.assert_allclose(eager, run_rnn(step, x, weights, finals, return_sequences=True, **options)[0],
                               rtol=1e-10, atol=1e-12)
    layer.reset_states()
    assert all(not v.get_value().any() for v in layer.states)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12)


def test_stateful_training_and_its_errors():
    layer = layers.LSTM(UNITS, stateful=True, dtype="float64")
    model = _model(layer, batch_size=BATCH)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_data(), R.standard_normal((BATCH, UNITS)), epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    assert all(v.get_value().any() for v in layer.states)
    assert layer.get_config()["stateful"] is True
    with pytest.raises(ValueError, match="batch size must be static"):
        layers.GRU(3, stateful=True)(th.tensor("x", "float32", (None, 2, 4)))
    with pytest.raises(ValueError, match=r"reset_state\(\) needs stateful=True"):
        layers.GRU(3).reset_state()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_an_unrolled_layer_equals_the_loop(case, go_backwards):
    """unroll=True writes the steps out (no Scan in the graph); values, final states, masks and gradients
    equal the looped layer's."""
    cls, _, n_states, options = CASES[case]
    ids = th.tensor("ids", "int64", (None, STEPS))
    embedding = layers.Embedding(9, FEATURES, mask_zero=True, dtype="float64")
    embedded = embedding(ids)
    data = _padded_ids()
    results, weights = [], []
    for unroll in (False, True):
        layer = cls(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards, unroll=unroll,
                    dtype="float64", **options)
        outputs = layer(embedded)
        if unroll:
            layer.set_weights(weights)
            assert not any(isinstance(n.op, Scan) for n in apply_nodes(outputs))
        else:
            weights = _set_keras_weights(layer)
        cost = sum((o ** 2).sum() for o in outputs)
        results.append(th.function([ids], [*outputs, *th.grad(cost, layer.trainable_weights)])(data))
    assert len(results[1]) == 1 + n_states + len(weights)
    for looped, unrolled in zip(*results, strict=True):
        np.testing.assert_allclose(unrolled, looped, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="unroll=True needs a static number of time steps"):
        cls(UNITS, unroll=True)(th.tensor("x", "float32", (None, None, 4)))


def test_stacked_cells_equal_stacked_layers(tmp_path):
    """RNN([cell, cell]) runs the cells in turn inside each step: the same as two RNN layers."""
    x = _data()
    stacked = layers.RNN([layers.LSTMCell(4), layers.GRUCell(3)], return_sequences=True, return_state=True)
    model = _model(stacked)
    first = layers.RNN(layers.LSTMCell(4), return_sequences=True)
    second = layers.RNN(layers.GRUCell(3), return_sequences=True, return_state=True)
    inputs = layers.Input((STEPS, FEATURES), dtype="float64")
    reference = models.Model(inputs, second(first(inputs)))
    weights = _keras_weights(stacked)
    stacked.set_weights(weights)
    first.set_weights(weights[:3])
    second.set_weights(weights[3:])
    got, expected = model.predict(x, verbose=0), reference.predict(x, verbose=0)
    assert [g.shape for g in got] == [(BATCH, STEPS, 3), (BATCH, 4), (BATCH, 4), (BATCH, 3)]
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[3], expected[1], rtol=1e-10, atol=1e-12)
    model.save(tmp_path / "stacked.keras")
    loaded = models.load_model(tmp_path / "stacked.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0)[0], got[0], rtol=1e-12)
    dropped = layers.RNN([layers.LSTMCell(4, dropout=0.5), layers.SimpleRNNCell(2, recurrent_dropout=0.5)])
    symbol = th.tensor("x", "float64", (None, STEPS, FEATURES))
    training, inference = (th.function([symbol], dropped(symbol, training=mode))(x) for mode in (True, False))
    assert training.shape == inference.shape == (BATCH, 2)
    assert not np.allclose(training, inference)
    with pytest.raises(ValueError, match="StackedRNNCells needs at least one cell"):
        layers.RNN([])


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "SimpleRNN"])
def test_one_sgd_step_of_an_embedding_rnn_model_moves_every_weight_by_its_gradient(cell):
    """The fused SGD update after the recurrent weights' gradient product (a GEMM epilogue whose
    product shares a buffer with another weight's new value) reads the product before writing."""
    from theanine.frontend import layers as L
    from theanine.frontend import models as M
    from theanine.frontend import optimizers as O

    rng = np.random.default_rng(4)
    ids = rng.integers(1, 50, (16, 12)).astype("int32")
    labels = (rng.uniform(size=16) > 0.5).astype("float32")
    inputs = L.Input((12,), dtype="int32")
    hidden = getattr(L, cell)(8)(L.Embedding(50, 8)(inputs))  # kernel and recurrent kernel of one shape
    model = M.Model(inputs, L.Dense(1, activation="sigmoid")(hidden))
    start = model.get_weights()
    x, y = th.tensor("ids", "int32", (None, 12)), th.vector("y", "float32")
    p = th.clip(model(x)[:, 0], 1e-7, 1 - 1e-7)
    loss = -(y * th.log(p) + (1 - y) * th.log(1 - p)).mean()
    gradients = th.function([x, y], th.grad(loss, model.trainable_weights))(ids, labels)
    model.compile(optimizer=O.SGD(learning_rate=0.5), loss="binary_crossentropy")
    model.train_on_batch(ids, labels)
    for before, after, gradient in zip(start, model.get_weights(), gradients, strict=True):
        np.testing.assert_allclose(after, before - 0.5 * gradient, rtol=1e-4, atol=1e-6)

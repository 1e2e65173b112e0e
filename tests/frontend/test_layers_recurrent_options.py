"""Keras 3 options of the recurrent layers that a port of Keras' guides meets, against NumPy.

``use_cudnn`` and ``implementation`` (accepted, same values), ``activity_regularizer``,
custom cells with only ``state_size`` or with ``get_initial_state``, a stateful layer
called eagerly on arrays and its states reused as another layer's ``initial_state``
(the "Working with RNNs" guide), Bidirectional's state methods and checks, and
TimeDistributed handing each step's mask to the layer it wraps.
"""

import numpy as np
import pytest
from keras_rnn_reference import gru_step, lstm_step, run_rnn, simple_rnn_step  # noqa: I001

import theanine as th
from theanine.frontend import initializers, layers, models, regularizers

R = np.random.default_rng(5)
BATCH, STEPS, FEATURES, UNITS = 3, 4, 5, 6


@pytest.fixture(autouse=True)
def _float64_models():
    with th.config.context(floatX="float64"):
        yield


def _data(shape=(BATCH, STEPS, FEATURES)):
    return R.standard_normal(shape)


def _set_random_weights(layer):
    weights = [R.standard_normal(w.get_value().shape) * 0.5 for w in layer.weights]
    layer.set_weights(weights)
    return weights


def _model(layer, shape=(STEPS, FEATURES), **input_options):
    inputs = layers.Input(shape, **input_options)
    return models.Model(inputs, layer(inputs))


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
def test_use_cudnn_is_accepted_checked_and_kept_in_the_config(cls):
    for value in ("auto", True, False):
        layer = cls(UNITS, use_cudnn=value)
        assert layer.use_cudnn == value and cls.from_config(layer.get_config()).use_cudnn == value
    with pytest.raises(ValueError, match="use_cudnn must be one of 'auto', True, False. Received: use_cudnn='yes'"):
        cls(UNITS, use_cudnn="yes")


def test_simple_rnn_has_no_use_cudnn_as_in_keras():
    with pytest.raises(TypeError, match="use_cudnn"):
        layers.SimpleRNN(UNITS, use_cudnn=False)


@pytest.mark.parametrize("cls, step, n_states", [(layers.LSTM, lstm_step, 2), (layers.GRU, gru_step, 1)])
def test_implementation_one_and_two_give_keras_values(cls, step, n_states):
    x = _data()
    for implementation in (1, 2):
        layer = cls(UNITS, implementation=implementation, return_sequences=True)
        model = _model(layer)
        weights = _set_random_weights(layer)
        expected, _ = run_rnn(step, x, weights, [np.zeros((BATCH, UNITS))] * n_states, return_sequences=True)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12)
        assert cls.from_config(layer.get_config()).implementation == implementation
    with pytest.raises(ValueError, match="implementation must be 1 or 2. Received: implementation=3"):
        cls(UNITS, implementation=3)


def test_activity_regularizer_adds_the_penalty_of_every_output_per_sample():
    layer = layers.GRU(UNITS, return_state=True, activity_regularizer=regularizers.L2(0.1))
    inputs = layers.Input((STEPS, FEATURES))
    output, state = layer(inputs)
    model = models.Model(inputs, layers.Add()([output, state]))
    model.compile(optimizer="sgd", loss="mse")
    weights = _set_random_weights(layer)
    x, y = _data(), R.standard_normal((BATCH, UNITS))
    out, (h,) = run_rnn(gru_step, x, weights, [np.zeros((BATCH, UNITS))])
    expected = np.mean((y - (out + h)) ** 2) + 0.1 * ((out ** 2).sum() + (h ** 2).sum()) / BATCH
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-10)
    again = layers.GRU.from_config(layer.get_config())
    assert isinstance(again.activity_regularizer, regularizers.L2)


class MinimalRNNCell(layers.Layer):
    """The cell of Keras' "Working with RNNs" guide: ``state_size`` only, no ``output_size``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        output = th.matmul(inputs, self.kernel) + th.matmul(states[0], self.recurrent_kernel)
        return output, [output]


def _minimal(x, kernel, recurrent, h):
    for t in range(x.shape[1]):
        h = x[:, t] @ kernel + h @ recurrent
    return h


def test_a_cell_with_state_size_only_runs_alone_and_stacked():
    single = layers.RNN(MinimalRNNCell(UNITS))
    stacked = layers.RNN([MinimalRNNCell(UNITS), MinimalRNNCell(4)])
    x = _data()
    for rnn in (single, stacked):
        model = _model(rnn)
        weights = model.get_weights()
        assert all(np.abs(w).max() <= 0.05 for w in weights)  # "uniform" is Keras' RandomUniform(-0.05, 0.05)
        expected = _minimal(x, *weights[:2], np.zeros((BATCH, UNITS)))
        if rnn is stacked:  # the second cell sees the first cell's output at each step
            h1, h2 = np.zeros((BATCH, UNITS)), np.zeros((BATCH, 4))
            for t in range(STEPS):
                h1 = x[:, t] @ weights[0] + h1 @ weights[1]
                h2 = h1 @ weights[2] + h2 @ weights[3]
            expected = h2
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-12)
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)


class StartAtOnesCell(MinimalRNNCell):
    """A cell whose sequences start from a state of ones (``get_initial_state``)."""

    def get_initial_state(self, batch_size=None):
        return th.ones((batch_size, self.units))


def test_the_cell_get_initial_state_starts_the_sequence():
    rnn = layers.RNN(StartAtOnesCell(UNITS))
    model = _model(rnn)
    x = _data()
    kernel, recurrent = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), _minimal(x, kernel, recurrent, np.ones((BATCH, UNITS))),
                               rtol=1e-10)
    cell = layers.LSTMCell(UNITS)
    zeros = th.function([], cell.get_initial_state(batch_size=2))()
    assert [z.shape for z in zeros] == [(2, UNITS), (2, UNITS)] and not any(z.any() for z in zeros)


def test_a_stateful_layer_runs_eagerly_and_its_states_seed_another_layer():
    """The guide's cross-batch statefulness and state reuse, on NumPy arrays."""
    first, second = _data(), _data()
    layer = layers.LSTM(UNITS, stateful=True)
    layer(first)  # built for the arrays' batch size
    weights = _set_random_weights(layer.cell)
    layer.reset_states()
    zeros = [np.zeros((BATCH, UNITS))] * 2
    out_first, after_first = run_rnn(lstm_step, first, weights, zeros)
    np.testing.assert_allclose(layer(first), out_first, rtol=1e-10)
    out_second, after_second = run_rnn(lstm_step, second, weights, after_first)
    np.testing.assert_allclose(layer(second), out_second, rtol=1e-10)
    for variable, expected in zip(layer.states, after_second, strict=True):
        np.testing.assert_allclose(variable.get_value(), expected, rtol=1e-10)

    other = layers.LSTM(UNITS)
    other(first)
    other_weights = _set_random_weights(other)
    expected, _ = run_rnn(lstm_step, first, other_weights, after_second)
    np.testing.assert_allclose(other(first, initial_state=layer.states), expected, rtol=1e-10)
    layer.reset_states()
    assert not any(v.get_value().any() for v in layer.states)


def test_bidirectional_states_reset_and_pair_checks():
    wrapper = layers.Bidirectional(layers.GRU(UNITS, stateful=True, return_sequences=True))
    model = _model(wrapper, batch_size=BATCH)
    assert wrapper.stateful and len(wrapper.states) == 2
    model.predict(_data(), verbose=0)
    assert all(v.get_value().any() for v in wrapper.states)
    wrapper.reset_states()
    assert not any(v.get_value().any() for v in wrapper.states)
    with pytest.raises(AttributeError, match="needs a stateful layer"):
        layers.Bidirectional(layers.GRU(UNITS)).reset_state()
    with pytest.raises(ValueError, match="different go_backwards"):
        layers.Bidirectional(layers.LSTM(UNITS), backward_layer=layers.LSTM(UNITS))
    with pytest.raises(ValueError, match="must agree on stateful"):
        layers.Bidirectional(layers.LSTM(UNITS), backward_layer=layers.LSTM(UNITS, go_backwards=True, stateful=True))


def test_time_distributed_gives_each_step_its_mask():
    """Sentences of words: TimeDistributed(SimpleRNN) reads each sentence's words with their mask."""
    sentences, words = 3, 4
    ids = R.integers(1, 9, (BATCH, sentences, words))
    ids[0, 1, 2:] = 0
    ids[2, 0, 1:] = 0
    inputs = layers.Input((sentences, words), dtype="int64")
    embedding = layers.Embedding(9, FEATURES, mask_zero=True)
    rnn = layers.SimpleRNN(UNITS)
    model = models.Model(inputs, layers.TimeDistributed(rnn)(embedding(inputs)))
    weights = _set_random_weights(rnn)
    vectors = embedding.get_weights()[0][ids].reshape(BATCH * sentences, words, FEATURES)
    expected, _ = run_rnn(simple_rnn_step, vectors, weights, [np.zeros((BATCH * sentences, UNITS))],
                          mask=(ids != 0).reshape(BATCH * sentences, words))
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected.reshape(BATCH, sentences, UNITS),
                               rtol=1e-10)
    with pytest.raises(ValueError, match=r"mask must have the inputs' \(batch, time\) axes first"):
        layers.TimeDistributed(rnn)(th.tensor("x", "float64", (None, 3, words, FEATURES)),
                                    mask=th.tensor("m", "bool", (None, 2, words)))


def test_the_seq2seq_inference_models_of_keras_example_rebuild_from_a_saved_model(tmp_path):
    """keras.io's lstm_seq2seq: save, load, then encoder and decoder models made from
    ``model.input``, ``layer.output`` and the decoder LSTM called again with new initial states;
    one decoding step equals the trained model on a one-step target sequence."""
    tokens_in, tokens_out, latent = 5, 6, 8
    encoder_inputs = layers.Input((None, tokens_in))
    _, state_h, state_c = layers.LSTM(latent, return_state=True)(encoder_inputs)
    decoder_inputs = layers.Input((None, tokens_out))
    decoded, _, _ = layers.LSTM(latent, return_sequences=True, return_state=True)(
        decoder_inputs, initial_state=[state_h, state_c])
    model = models.Model([encoder_inputs, decoder_inputs], layers.Dense(tokens_out, activation="softmax")(decoded))
    source, target = _data((BATCH, 4, tokens_in)), _data((BATCH, 3, tokens_out))
    model.save(tmp_path / "s2s.keras")
    model = models.load_model(tmp_path / "s2s.keras")

    encoder_model = models.Model(model.input[0], list(model.layers[2].output[1:]))
    state_inputs = [layers.Input((latent,)), layers.Input((latent,))]
    decoder_lstm, decoder_dense = model.layers[3], model.layers[4]
    step, h, c = decoder_lstm(model.input[1], initial_state=state_inputs)
    decoder_model = models.Model([model.input[1], *state_inputs], [decoder_dense(step), h, c])
    states = encoder_model.predict(source, verbose=0)
    first = target[:, :1]
    probabilities, _, _ = decoder_model.predict([first, *states], verbose=0)
    np.testing.assert_allclose(probabilities, model.predict([source, first], verbose=0), rtol=1e-10)
    assert isinstance(model.input, list) and model.output is model.outputs[0]
    with pytest.raises(AttributeError, match="has no inputs and outputs yet"):
        _ = models.Sequential([layers.Dense(2)]).input


def test_a_mask_given_as_a_graph_tensor_is_part_of_the_model(tmp_path):
    """``layer(x, mask=m)`` with ``m`` an input of the model, as Keras allows: the mask reaches the
    layer when the model runs, after saving and loading, and in a clone."""
    x, keep = layers.Input((STEPS, FEATURES)), layers.Input((STEPS,), dtype="bool")
    rnn = layers.SimpleRNN(UNITS, return_sequences=True)
    model = models.Model([x, keep], rnn(x, mask=keep))
    weights = _set_random_weights(rnn)
    values, mask = _data(), R.uniform(size=(BATCH, STEPS)) > 0.4
    expected, _ = run_rnn(simple_rnn_step, values, weights, [np.zeros((BATCH, UNITS))], mask=mask,
                          return_sequences=True)
    np.testing.assert_allclose(model.predict([values, mask], verbose=0), expected, rtol=1e-10)
    model.save(tmp_path / "masked.keras")
    loaded = models.load_model(tmp_path / "masked.keras")
    np.testing.assert_allclose(loaded.predict([values, mask], verbose=0), expected, rtol=1e-10)
    clone = models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([values, mask], verbose=0), expected, rtol=1e-10)
    assert rnn.input is x
    with pytest.raises(ValueError, match="the mask given to a functional call must be a tensor of the model's graph"):
        rnn(x, mask=th.tensor("m", "bool", (None, STEPS)))


class _NestedCell(layers.Layer):
    """The RNN guide's NestedCell (Keras 3 form): two inputs, two states, two outputs per step."""

    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.unit_1, self.unit_2, self.unit_3 = unit_1, unit_2, unit_3
        self.state_size = [unit_1, [unit_2, unit_3]]
        self.output_size = [unit_1, [unit_2, unit_3]]
        super().__init__(**kwargs)

    def build(self, input_shapes):
        i1, (i2, i3) = input_shapes[0][1], input_shapes[1][1:]
        self.kernel_1 = self.add_weight(shape=(i1, self.unit_1), initializer="uniform", name="kernel_1")
        self.kernel_2_3 = self.add_weight(shape=(i2, i3, self.unit_2, self.unit_3), initializer="uniform",
                                          name="kernel_2_3")

    def call(self, inputs, states):
        input_1, input_2 = inputs
        s1, s2 = states
        output_1 = th.matmul(input_1, self.kernel_1)
        output_2_3 = th.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        return (output_1, output_2_3), (s1 + output_1, s2 + output_2_3)

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}


def test_nested_inputs_states_and_outputs_match_numpy():
    cell = _NestedCell(3, 2, 4)
    rnn = layers.RNN(cell, return_sequences=True)
    input_1, input_2 = layers.Input((None, 5)), layers.Input((None, 2, 3))
    model = models.Model([input_1, input_2], rnn((input_1, input_2)))
    assert model.output_shape == [(None, None, 3), (None, None, 2, 4)]
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 6, 5)).astype("float32"), rng.random((2, 6, 2, 3)).astype("float32")
    out_1, out_2 = model.predict([a, b], verbose=0)
    k1, k23 = cell.kernel_1.numpy(), cell.kernel_2_3.numpy()
    np.testing.assert_allclose(out_1, a @ k1, rtol=1e-5)
    np.testing.assert_allclose(out_2, np.einsum("btij,ijkl->btkl", b, k23), rtol=1e-4)
    last = layers.RNN(cell, return_state=True)((a, b))
    np.testing.assert_allclose(last[2], (a @ k1).sum(1), rtol=1e-5)  # the first state sums the outputs
    model.compile(optimizer="adam", loss="mse")
    model.fit([a, b], [out_1 * 0, out_2 * 0], epochs=1, verbose=0)
    rebuilt = models.Model.from_config(model.get_config(), custom_objects={"_NestedCell": _NestedCell})
    assert rebuilt.layers[-1].sequence_inputs == 2
    assert [o.shape for o in rebuilt.predict([a, b], verbose=0)] == [(2, 6, 3), (2, 6, 2, 4)]

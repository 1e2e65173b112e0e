"""Masks through the layers between an Embedding (or Masking) and a recurrent layer, as in Keras 3.

Merging layers combine their inputs' masks (Add and friends: the logical or,
none when an input has none; Concatenate: Keras' rule per axis), the
normalization, activation and preprocessing layers pass the mask on,
BatchNormalization's batch statistics count the unmasked steps only, and
Softmax sets masked scores to -1e9.  Checked against NumPy.
"""

import numpy as np
import pytest
from keras_rnn_reference import run_rnn, simple_rnn_step  # noqa: I001

import theanine as th
from theanine.frontend import layers, models

R = np.random.default_rng(17)
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 3


@pytest.fixture(autouse=True)
def _float64():
    with th.config.context(floatX="float64"):
        yield


def _ids(zero_at):
    ids = R.integers(1, 9, (BATCH, STEPS))
    for row, steps in zero_at:
        ids[row, steps] = 0
    return ids


FIRST = _ids([(0, slice(3, None)), (2, slice(0, 2))])
SECOND = _ids([(0, slice(4, None)), (1, slice(2, 4))])


def _expected(vectors, weights, mask):
    return run_rnn(simple_rnn_step, vectors, weights, [np.zeros((len(vectors), UNITS))], mask=mask,
                   return_sequences=True)[0]


def _two_embeddings(second_masked: bool):
    inputs = [layers.Input((STEPS,), dtype="int64"), layers.Input((STEPS,), dtype="int64")]
    embeddings = [layers.Embedding(9, FEATURES, mask_zero=True), layers.Embedding(9, FEATURES, mask_zero=second_masked)]
    return inputs, embeddings, [e(i) for e, i in zip(embeddings, inputs, strict=True)]


@pytest.mark.parametrize("second_masked", [True, False])
def test_add_keeps_a_step_either_input_keeps(second_masked):
    inputs, embeddings, embedded = _two_embeddings(second_masked)
    rnn = layers.SimpleRNN(UNITS, return_sequences=True)
    model = models.Model(inputs, rnn(layers.Add()(embedded)))
    a, b = (e.get_weights()[0] for e in embeddings)
    mask = (FIRST != 0) | (SECOND != 0) if second_masked else None  # an unmasked input: no mask
    np.testing.assert_allclose(model.predict([FIRST, SECOND], verbose=0),
                               _expected(a[FIRST] + b[SECOND], rnn.get_weights(), mask), rtol=1e-10)


def test_concatenate_follows_keras_rule_on_the_feature_and_the_time_axis():
    inputs, embeddings, embedded = _two_embeddings(True)
    features = layers.Concatenate()(embedded)
    np.testing.assert_array_equal(th.function(inputs, features._keras_mask)(FIRST, SECOND),
                                  (FIRST != 0) | (SECOND != 0))
    unmasked_embedding = layers.Embedding(9, FEATURES)
    rnn = layers.SimpleRNN(UNITS, return_sequences=True)
    model = models.Model(inputs, rnn(layers.Concatenate(axis=1)([embedded[0], unmasked_embedding(inputs[1])])))
    vectors = np.concatenate([embeddings[0].get_weights()[0][FIRST], unmasked_embedding.get_weights()[0][SECOND]],
                             axis=1)
    mask = np.concatenate([FIRST != 0, np.ones_like(SECOND, bool)], axis=1)  # an unmasked input counts as kept
    np.testing.assert_allclose(model.predict([FIRST, SECOND], verbose=0), _expected(vectors, rnn.get_weights(), mask),
                               rtol=1e-10)


def test_layer_normalization_activations_and_rescaling_pass_the_mask_on():
    ids = layers.Input((STEPS,), dtype="int64")
    embedding = layers.Embedding(9, FEATURES, mask_zero=True)
    hidden = layers.Rescaling(2.0)(layers.LeakyReLU(0.1)(layers.LayerNormalization()(embedding(ids))))
    rnn = layers.SimpleRNN(UNITS, return_sequences=True)
    model = models.Model(ids, rnn(hidden))
    x = embedding.get_weights()[0][FIRST]
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    x = 2.0 * np.where(x > 0, x, 0.1 * x)
    np.testing.assert_allclose(model.predict(FIRST, verbose=0), _expected(x, rnn.get_weights(), FIRST != 0),
                               rtol=1e-8)


def test_batch_normalization_counts_the_unmasked_steps_in_training():
    layer = layers.BatchNormalization(momentum=0.9)
    x, mask = R.standard_normal((BATCH, STEPS, FEATURES)), FIRST != 0
    out = layer(x, training=True, mask=mask)
    kept = x[mask]
    mean, variance = kept.mean(0), ((kept - kept.mean(0)) ** 2).mean(0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.get_value(), 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.get_value(), 0.9 + 0.1 * variance, rtol=1e-6)
    with pytest.raises(ValueError, match="the mask must have one axis less than the inputs"):
        layer(x, training=True, mask=np.ones((BATCH, STEPS, FEATURES), bool))


def test_softmax_sets_masked_scores_aside():
    scores, mask = R.standard_normal((2, 3, 4)), R.uniform(size=(2, 3, 4)) > 0.3
    mask[..., 0] = True
    expected = np.where(mask, np.exp(scores), 0.0)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(layers.Softmax()(scores, mask=mask), expected, rtol=1e-10, atol=1e-300)


def test_compute_mask_on_arrays_returns_arrays():
    """The masking guide: ``embedding.compute_mask(padded_inputs)`` and a custom layer's
    ``compute_mask`` called on NumPy arrays give NumPy masks."""
    from theanine.frontend import ops, utils

    padded = utils.pad_sequences([[711, 632, 71], [73, 8, 3215, 55, 927]], padding="post")
    mask = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True).compute_mask(padded)
    assert isinstance(mask, np.ndarray) and np.array_equal(mask, padded != 0)

    class CustomEmbedding(layers.Layer):
        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

    x = np.array([[1, 0, 2]], "int32")
    assert np.array_equal(CustomEmbedding().compute_mask(x), [[True, False, True]])
    symbolic = CustomEmbedding().compute_mask(th.imatrix("x"))
    assert isinstance(symbolic, th.Variable) and symbolic.dtype == "bool"


def test_eager_outputs_carry_their_mask_to_the_next_eager_call():
    """The masking guide's ``masked_output = embedding(padded_inputs); masked_output._keras_mask``."""
    from theanine.frontend import utils

    padded = utils.pad_sequences([[711, 632, 71], [73, 8, 3215, 55, 927]], padding="post")
    embedded = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)(padded)
    assert np.array_equal(embedded._keras_mask, padded != 0)
    lstm = layers.LSTM(3)
    np.testing.assert_allclose(lstm(embedded)[0], lstm(np.asarray(embedded)[:1, :3])[0], atol=1e-6)
    plain = layers.Dense(2)(np.ones((1, 3), "float32"))
    assert getattr(plain, "_keras_mask", None) is None


def test_a_carried_eager_mask_reaches_compute_mask_of_a_layer_whose_call_takes_none():
    """The masking guide's TemporalSplit on a masked eager output: its call has no ``mask``."""
    from theanine.frontend import ops

    class TemporalSplit(layers.Layer):
        def call(self, inputs):
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else ops.split(mask, 2, axis=1)

    values = np.array([[[1.0], [2.0], [0.0], [0.0]], [[1.0], [1.0], [1.0], [0.0]]], "float32")
    masked = layers.Masking()(values)
    first, second = TemporalSplit()(masked)
    assert np.array_equal(first._keras_mask, [[True, True], [True, True]])
    assert np.array_equal(second._keras_mask, [[False, False], [True, False]])

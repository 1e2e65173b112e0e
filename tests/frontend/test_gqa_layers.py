"""GroupQueryAttention and ReversibleEmbedding: values against a NumPy implementation of Keras 3's
equations and against Keras 3 itself (JAX backend, weights copied with set_weights); masks, causal and
sliding-window attention, gates, tied and untied reverse projections, soft caps, configs, models."""


import numpy as np
import pytest
from keras_jax import keras, needs_keras

import theanine as th
from theanine.frontend import layers, models

R = np.random.default_rng(0)
Q = R.standard_normal((2, 5, 6)).astype("float32")
V = R.standard_normal((2, 4, 6)).astype("float32")
K = R.standard_normal((2, 4, 6)).astype("float32")
QUERY_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
VALUE_MASK = np.array([[1, 1, 0, 1], [1, 1, 1, 0]], bool)
GIVEN_MASK = R.random((2, 5, 4)) > 0.3


def _reference(weights, query, value, key, mask, heads, groups, gate):
    """Keras' GroupedQueryAttention equations in NumPy (``mask``: (batch, Tq, Tv) booleans or None)."""
    weights = list(weights)
    qk, qb, kk, kb = weights[:4]
    gk, gb = weights[4:6] if gate else (None, None)
    vk, vb, ok, ob = weights[6:] if gate else weights[4:]
    q = np.einsum("bqm,muh->bquh", query, qk) + qb
    k = np.repeat(np.einsum("bkm,mvh->bkvh", key, kk) + kb, heads // groups, axis=2)
    v = np.repeat(np.einsum("bkm,mvh->bkvh", value, vk) + vb, heads // groups, axis=2)
    scores = np.einsum("bquh,bkuh->buqk", q / np.sqrt(q.shape[-1]), k)
    if mask is not None:  # in float32, as the layer: a fully masked row becomes uniform
        scores = scores.astype("float32") + (1.0 - mask[:, None].astype("float32")) * np.float32(-1e9)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    context = np.einsum("buqk,bkuh->bquh", scores, v)
    if gate:
        context = context / (1 + np.exp(-(np.einsum("bqm,muh->bquh", query, gk) + gb)))
    return np.einsum("bquh,uhm->bqm", context, ok) + ob, scores


def _layer(**args):
    layer = layers.GroupQueryAttention(**args)
    layer(Q, V, K)
    weights = [R.standard_normal(w.shape).astype("float32") * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, weights


@pytest.mark.parametrize("args", [
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
    {"head_dim": 2, "num_query_heads": 6, "num_key_value_heads": 3, "use_gate": True},
])
def test_group_query_attention_matches_numpy_with_every_mask(args):
    layer, weights = _layer(**args)
    heads, groups, gate = args["num_query_heads"], args["num_key_value_heads"], args.get("use_gate", False)
    causal = np.tril(np.ones((5, 4), bool))[None]
    cases = [({}, None), ({"use_causal_mask": True}, causal),
             ({"query_mask": QUERY_MASK, "value_mask": VALUE_MASK}, QUERY_MASK[:, :, None] & VALUE_MASK[:, None]),
             ({"attention_mask": GIVEN_MASK, "use_causal_mask": True}, GIVEN_MASK & causal)]
    for call_args, mask in cases:
        out, scores = layer(Q, V, K, return_attention_scores=True, **call_args)
        expected, expected_scores = _reference(weights, Q, V, K, mask, heads, groups, gate)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-6)
    assert [w.shape for w in layer.get_weights()][:2] == [(6, heads, args["head_dim"]), (heads, args["head_dim"])]


def test_sliding_window_and_the_inputs_keras_masks_on_symbolic_tensors():
    layer, weights = _layer(head_dim=3, num_query_heads=2, num_key_value_heads=1, sliding_window=2)
    q, v = th.tensor("q", dtype="float32", shape=(None, 5, 6)), th.tensor("v", dtype="float32", shape=(None, 4, 6))
    q_mask, v_mask = th.tensor("qm", dtype="bool", shape=(None, 5)), th.tensor("vm", dtype="bool", shape=(None, 4))
    q._keras_mask, v._keras_mask = q_mask, v_mask
    out = layer(q, v, use_causal_mask=True)
    got = th.function([q, v, q_mask, v_mask], out)(Q, V, QUERY_MASK, VALUE_MASK)
    band = np.abs(np.arange(5)[:, None] - np.arange(4)[None]) < 2
    mask = QUERY_MASK[:, :, None] & VALUE_MASK[:, None] & np.tril(np.ones((5, 4), bool)) & band
    np.testing.assert_allclose(got, _reference(weights, Q, V, V, mask, 2, 1, False)[0], rtol=1e-4, atol=1e-5)


@needs_keras
@pytest.mark.parametrize("args", [
    {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
    {"head_dim": 2, "num_query_heads": 6, "num_key_value_heads": 3, "use_gate": True, "use_bias": False},
    {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1, "sliding_window": 2},
])
def test_group_query_attention_matches_keras(args):
    reference = keras.layers.GroupQueryAttention(**args)
    reference(Q, V, K)
    layer, weights = _layer(**args)
    reference.set_weights(weights)
    for call_args in ({}, {"use_causal_mask": True}, {"query_mask": QUERY_MASK, "value_mask": VALUE_MASK},
                      {"attention_mask": GIVEN_MASK, "use_causal_mask": True}):
        np.testing.assert_allclose(layer(Q, V, K, **call_args), np.asarray(reference(Q, V, K, **call_args)),
                                   rtol=1e-4, atol=1e-5)
    out, scores = layer(Q, V, return_attention_scores=True)
    expected, expected_scores = reference(Q, V, return_attention_scores=True)
    np.testing.assert_allclose(out, np.asarray(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, np.asarray(expected_scores), rtol=1e-4, atol=1e-6)


def test_attention_dropout_only_in_training():
    layer, _ = _layer(head_dim=3, num_query_heads=2, num_key_value_heads=1, dropout=0.5, seed=1)
    np.testing.assert_array_equal(layer(Q, V), layer(Q, V))
    assert not np.allclose(layer(Q, V, training=True), layer(Q, V))
    with pytest.raises(ValueError, match="divisible"):
        layers.GroupQueryAttention(2, 3, 2)
    with pytest.raises(ValueError, match="sliding_window"):
        layers.GroupQueryAttention(2, 2, 1, sliding_window=0)
    with pytest.raises(ValueError, match="flash attention"):
        layers.GroupQueryAttention(2, 2, 1, dropout=0.1, flash_attention=True)


def test_group_query_attention_in_a_model_saves_and_reloads(tmp_path):
    inputs = layers.Input((5, 6))
    attended = layers.GroupQueryAttention(3, 4, 2, name="gqa")(inputs, inputs, use_causal_mask=True)
    model = models.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling1D()(attended)))
    model.compile("adam", "mse")
    model.fit(Q, np.ones((2, 1), "float32"), epochs=1, verbose=0)
    path = str(tmp_path / "gqa.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(Q, verbose=0), model.predict(Q, verbose=0), rtol=1e-5)
    layer = model.get_layer("gqa")
    clone = layers.GroupQueryAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and layers.GroupedQueryAttention is layers.GroupQueryAttention


# ----------------------------------------------------------------------------- ReversibleEmbedding

IDS = np.array([[1, 2, 0], [3, 9, 4]])
VECTORS = R.standard_normal((2, 3, 4)).astype("float32")


@pytest.mark.parametrize("args", [{}, {"tie_weights": False}, {"logit_soft_cap": 2.0},
                                  {"tie_weights": False, "reverse_dtype": "float64", "logit_soft_cap": 0.5}])
def test_reversible_embedding_looks_up_and_reverses(args):
    layer = layers.ReversibleEmbedding(10, 4, **args)
    layer(IDS)
    weights = [R.standard_normal(w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    np.testing.assert_array_equal(layer(IDS), weights[0][IDS])
    kernel = weights[0].T if args.get("tie_weights", True) else weights[1]
    logits = VECTORS.astype("float64") @ kernel
    if args.get("logit_soft_cap"):
        logits = np.tanh(logits / args["logit_soft_cap"]) * args["logit_soft_cap"]
    got = layer(VECTORS, reverse=True)
    assert got.shape == (2, 3, 10) and got.dtype == np.dtype(args.get("reverse_dtype", "float32"))
    np.testing.assert_allclose(got, logits, rtol=1e-5, atol=1e-5)
    assert len(weights) == (1 if args.get("tie_weights", True) else 2)
    assert tuple(layer.compute_output_shape((None, 3, 4), reverse=True)) == (None, 3, 10)


@needs_keras
@pytest.mark.parametrize("args", [{}, {"tie_weights": False, "logit_soft_cap": 0.5}])
def test_reversible_embedding_matches_keras(args):
    reference, layer = keras.layers.ReversibleEmbedding(10, 4, **args), layers.ReversibleEmbedding(10, 4, **args)
    reference(IDS)
    layer(IDS)
    layer.set_weights([np.asarray(w) for w in reference.get_weights()])
    np.testing.assert_allclose(layer(IDS), np.asarray(reference(IDS)), rtol=1e-6)
    np.testing.assert_allclose(layer(VECTORS, reverse=True), np.asarray(reference(VECTORS, reverse=True)),
                               rtol=1e-5, atol=1e-6)
    assert layer.get_config()["tie_weights"] == reference.get_config()["tie_weights"]


def test_tied_language_model_trains_masks_and_reloads(tmp_path):
    embedding = layers.ReversibleEmbedding(10, 4, mask_zero=True, logit_soft_cap=3.0, name="tied")
    ids = layers.Input((3,), dtype="int64")
    vectors = embedding(ids)
    assert vectors._keras_mask is not None
    logits = embedding(layers.Dense(4)(vectors), reverse=True)
    model = models.Model(ids, logits)
    model.compile("adam", "sparse_categorical_crossentropy")
    before = embedding.get_weights()[0].copy()
    model.fit(IDS, IDS, epochs=2, verbose=0)
    assert not np.allclose(embedding.get_weights()[0], before) and len(model.weights) == 3  # one shared table
    assert np.all(np.abs(model.predict(IDS, verbose=0)) < 3.0)
    path = str(tmp_path / "tied.theanine")
    model.save(path)
    np.testing.assert_allclose(models.load_model(path).predict(IDS, verbose=0), model.predict(IDS, verbose=0),
                               rtol=1e-5)
    clone = layers.ReversibleEmbedding.from_config(embedding.get_config())
    assert clone.get_config() == embedding.get_config()
    with pytest.raises(ValueError, match="reverse=True expects float vectors of size 4"):
        embedding(VECTORS[..., :3], reverse=True)

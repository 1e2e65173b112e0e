"""MultiHeadAttention, Attention, AdditiveAttention: values against a NumPy implementation of
Keras 3's equations (random weights set with set_weights; masks, causal mask, attention
scores), errors, training with fit, config round trip and saving."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models
from theanine.frontend.layers.base import serialize_layer

R = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def _float64_models():
    with th.config.context(floatX="float64"):
        yield


def _tensor(name, shape, dtype="float64"):
    return th.tensor(name=name, dtype=dtype, shape=shape)


def _softmax(scores, mask=None):
    if mask is not None:
        scores = scores + (1.0 - mask) * -1e9
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mha_reference(weights, query, value, key, mask, key_dim):
    """Keras' MultiHeadAttention: per-head projections, scaled dot scores, softmax, output projection."""
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    q = np.einsum("abc,cde->abde", query, qk) + qb
    k = np.einsum("abc,cde->abde", key, kk) + kb
    v = np.einsum("abc,cde->abde", value, vk) + vb
    scores = np.einsum("aecd,abcd->acbe", k, q / np.sqrt(key_dim))
    probs = _softmax(scores, None if mask is None else mask[:, None])
    context = np.einsum("acbe,aecd->abcd", probs, v)
    return np.einsum("abcd,cde->abe", context, ok) + ob, probs


def _random_weights(layer):
    return [R.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("mask_kind", [None, "explicit", "causal", "both"])
def test_multi_head_attention_matches_numpy(with_key, mask_kind):
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=6)
    q, v, m = _tensor("q", (None, 4, 5)), _tensor("v", (None, 4, 7)), _tensor("m", (None, 4, 4), "bool")
    k = _tensor("k", (None, 4, 3)) if with_key else None
    explicit = mask_kind in ("explicit", "both")
    out, scores = layer(q, v, key=k, attention_mask=m if explicit else None, return_attention_scores=True,
                        use_causal_mask=mask_kind in ("causal", "both"))
    assert [w.shape for w in layer.get_weights()] == [
        (5, 2, 3), (2, 3), (3 if with_key else 7, 2, 3), (2, 3), (7, 2, 4), (2, 4), (2, 4, 6), (6,)]
    weights = _random_weights(layer)
    layer.set_weights(weights)
    query, value = R.standard_normal((2, 4, 5)), R.standard_normal((2, 4, 7))
    key = R.standard_normal((2, 4, 3)) if with_key else value
    given = R.random((2, 4, 4)) > 0.3
    given[:, :, 0] = True
    inputs = [q, v] + ([k] if with_key else []) + ([m] if explicit else [])
    values = [query, value] + ([key] if with_key else []) + ([given] if explicit else [])
    got_out, got_scores = th.function(inputs, [out, scores])(*values)
    mask = None
    if explicit:
        mask = given.astype(float)
    if mask_kind in ("causal", "both"):
        causal = np.tril(np.ones((4, 4)))[None]
        mask = causal if mask is None else mask * causal
    want_out, want_scores = mha_reference(weights, query, value, key, mask, key_dim=3)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-10, atol=1e-12)
    assert got_out.shape == layer.compute_output_shape((2, 4, 5)) == (2, 4, 6)


def test_multi_head_attention_uses_input_masks_and_cross_lengths():
    layer = layers.MultiHeadAttention(num_heads=3, key_dim=2, use_bias=False)
    q, v = _tensor("q", (None, 3, 4)), _tensor("v", (None, 5, 4))
    v_mask = _tensor("vm", (None, 5), "bool")
    v._keras_mask = v_mask
    out = layer(q, v)
    weights = layer.get_weights()
    assert len(weights) == 4  # no biases: query, key, value, output kernels
    query, value = R.standard_normal((2, 3, 4)), R.standard_normal((2, 5, 4))
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    zeros = [np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(4)]
    full = [weights[0], zeros[0], weights[1], zeros[1], weights[2], zeros[2], weights[3], zeros[3]]
    want, _ = mha_reference(full, query, value, value, np.broadcast_to(vm[:, None, :], (2, 3, 5)).astype(float), 2)
    np.testing.assert_allclose(th.function([q, v, v_mask], out)(query, value, vm), want, rtol=1e-10)


def test_multi_head_attention_rejects_bad_arguments():
    with pytest.raises(NotImplementedError, match="attention_axes"):
        layers.MultiHeadAttention(2, 3, attention_axes=(1,))
    with pytest.raises(ValueError, match="num_heads=0"):
        layers.MultiHeadAttention(0, 3)
    layer = layers.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="rank 3"):
        layer(_tensor("q", (None, 4)), _tensor("v", (None, 4)))


def dense_attention_reference(query, value, key, scores, q_mask, v_mask, causal):
    mask = np.ones(scores.shape)
    if v_mask is not None:
        mask = mask * v_mask[:, None, :]
    if causal:
        mask = mask * np.tril(np.ones(scores.shape[1:]))[None]
    probs = _softmax(scores, mask)
    result = probs @ value
    if q_mask is not None:
        result = result * q_mask[:, :, None]
    return result, probs


def _attention_scores(kind, weights, query, key):
    if kind == "dot":
        return (query @ key.transpose(0, 2, 1)) * (weights[0] if weights else 1.0)
    summed = query[:, :, None, :] + key[:, None, :, :]
    if kind == "concat":
        scale, concat_weight = weights
        return concat_weight * np.tanh(scale * summed).sum(-1)
    return (weights[0] * np.tanh(summed)).sum(-1)


@pytest.mark.parametrize("kind", ["dot", "concat", "additive"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_and_additive_attention_match_numpy(kind, masked, causal):
    if kind == "additive":
        layer = layers.AdditiveAttention()
    else:
        layer = layers.Attention(use_scale=True, score_mode=kind)
    q, v, k = _tensor("q", (None, 4, 3)), _tensor("v", (None, 4, 3)), _tensor("k", (None, 4, 3))
    qm, vm = _tensor("qm", (None, 4), "bool"), _tensor("vm", (None, 4), "bool")
    out, scores = layer([q, v, k], mask=[qm, vm] if masked else None, return_attention_scores=True,
                        use_causal_mask=causal)
    weights = [np.asarray(w) + R.standard_normal(np.shape(w)) * 0.3 for w in layer.get_weights()]
    layer.set_weights(weights)
    query, value, key = (R.standard_normal((2, 4, 3)) for _ in range(3))
    q_mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    inputs, values = [q, v, k], [query, value, key]
    if masked:
        inputs, values = inputs + [qm, vm], values + [q_mask, v_mask]
    got_out, got_scores = th.function(inputs, [out, scores])(*values)
    want_out, want_scores = dense_attention_reference(
        query, value, key, _attention_scores(kind, weights, query, key),
        q_mask if masked else None, v_mask if masked else None, causal)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-10, atol=1e-12)


def test_attention_weight_shapes_and_errors():
    x = _tensor("x", (None, 4, 3))
    plain = layers.Attention()
    plain([x, x])
    assert plain.get_weights() == []
    additive = layers.AdditiveAttention()
    additive([x, x])
    assert [w.shape for w in additive.get_weights()] == [(3,)]
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"\[query, value\]"):
        layers.Attention()(x)


def test_config_round_trip():
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, dropout=0.1, output_shape=4, name="mha")
    again = layers.MultiHeadAttention.from_config(mha.get_config())
    assert again.get_config() == mha.get_config()
    for layer in (layers.Attention(use_scale=True, score_mode="concat", dropout=0.2),
                  layers.AdditiveAttention(use_scale=False)):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_model_with_multi_head_attention_trains_and_saves(tmp_path):
    inputs = layers.Input((5, 4))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs)
    outputs = layers.Dense(1)(layers.GlobalAveragePooling1D()(attended))
    model = models.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    xs = R.standard_normal((32, 5, 4))
    ys = xs.sum(axis=(1, 2))[:, None] * 0.2
    history = model.fit(xs, ys, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=1e-12)
    assert loaded.layers[1].get_config()["num_heads"] == 2


def test_attention_dropout_only_in_training():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=3)
    q = _tensor("q", (None, 4, 5))
    infer, (train, scores) = layer(q, q, training=False), layer(q, q, training=True, return_attention_scores=True)
    query = R.standard_normal((2, 4, 5))
    want, probs = mha_reference(layer.get_weights(), query, query, query, None, key_dim=3)
    np.testing.assert_allclose(th.function([q], infer)(query), want, rtol=1e-10)
    got_train, got_scores = th.function([q], [train, scores])(query)
    np.testing.assert_allclose(got_scores, probs, rtol=1e-10)  # the scores returned are before dropout
    assert not np.allclose(got_train, want)


def test_dense_attention_dropout_scores_are_the_dropped_weights():
    layer = layers.Attention(dropout=0.5, seed=4)
    x = _tensor("x", (None, 6, 3))
    out, scores = layer([x, x], training=True, return_attention_scores=True)
    data = R.standard_normal((2, 6, 3))
    got_out, got_scores = th.function([x], [out, scores])(data)
    _, probs = dense_attention_reference(data, data, data, data @ data.transpose(0, 2, 1), None, None, False)
    kept = got_scores != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(got_scores[kept], probs[kept] * 2, rtol=1e-10)
    np.testing.assert_allclose(got_out, got_scores @ data, rtol=1e-10)


def test_multi_head_attention_serializes_its_build_shapes():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    layer(_tensor("q", (None, 4, 5)), _tensor("v", (None, 6, 7)))
    spec = serialize_layer(layer)
    assert spec["build_config"] == {"query_shape": [None, 4, 5], "value_shape": [None, 6, 7],
                                    "key_shape": [None, 6, 7]}
    again = layers.deserialize(spec)
    assert [w.shape for w in again.get_weights()] == [w.shape for w in layer.get_weights()]
    again.set_weights(layer.get_weights())


def test_keyword_arguments_of_a_functional_call_are_kept_by_the_model_and_its_file(tmp_path):
    """Tensors passed by keyword (``key=``) become inputs of the node, plain values
    (``use_causal_mask=True``, ``return_attention_scores=True``) its recorded arguments: the model
    reruns the call the same way, and so does the model loaded from its file."""
    from theanine.frontend import saving

    rng = np.random.default_rng(8)
    query, value = layers.Input((5, 8)), layers.Input((6, 8))
    attention = layers.MultiHeadAttention(2, 4)
    out, scores = attention(query, value, key=value, return_attention_scores=True)
    causal = layers.MultiHeadAttention(2, 4)(out, out, use_causal_mask=True)
    model = models.Model([query, value], [causal, scores])
    q, v = rng.standard_normal((3, 5, 8)).astype("float32"), rng.standard_normal((3, 6, 8)).astype("float32")
    got, got_scores = model.predict([q, v], verbose=0)
    assert got_scores.shape == (3, 2, 5, 6)
    changed = q.copy()
    changed[:, 3:] += 5.0  # later query positions: the causal layer's first position must not see them
    np.testing.assert_allclose(model.predict([changed, v], verbose=0)[0][:, 0], got[:, 0], atol=1e-6)
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = saving.load_model(path)
    for before, after in zip((got, got_scores), loaded.predict([q, v], verbose=0), strict=True):
        np.testing.assert_array_equal(before, after)

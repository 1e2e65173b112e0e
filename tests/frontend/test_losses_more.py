"""CTC, Circle and CategoricalGeneralizedCrossEntropy: values against NumPy versions of Keras 3's
formulas (CTC against a brute-force sum over all alignments), the CTC gradient by finite
differences, errors, config, and training and save/load inside a model (checked once against
Keras 3.15 on JAX: equal to 1e-6)."""

import itertools

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, losses, models


def _brute_force_ctc(labels, logits):
    """-log of the summed probability of every path that collapses to the label (blank 0)."""
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    target = [int(v) for v in labels if v != 0]
    total = 0.0
    for path in itertools.product(range(logits.shape[1]), repeat=logits.shape[0]):
        merged = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        if [s for s in merged if s != 0] == target:
            total += np.exp(sum(log_probs[t, s] for t, s in enumerate(path)))
    return -np.log(total)


CTC_LABELS = np.array([[1, 2, 0], [1, 1, 0], [2, 0, 0], [0, 0, 0], [1, 2, 1], [3, 1, 3]])


def test_ctc_equals_the_sum_over_all_alignments():
    logits = np.random.default_rng(0).normal(size=(6, 5, 4))
    expected = [_brute_force_ctc(CTC_LABELS[i], logits[i]) for i in range(6)]
    np.testing.assert_allclose(losses.ctc(CTC_LABELS, logits), expected, rtol=1e-10)
    reduced = losses.CTC()(CTC_LABELS, logits, sample_weight=np.arange(6.0))
    assert reduced == pytest.approx(np.sum(np.arange(6.0) * expected) / 6)


def test_ctc_of_a_label_too_long_for_the_steps_is_large_and_finite():
    """[1, 1, 1] needs 5 steps (a blank between repeats); in 4 the loss is of the order of 1e5 (Keras)."""
    value = losses.ctc(np.array([[1, 1, 1]]), np.zeros((1, 4, 3)))
    assert np.isfinite(value).all() and 1e4 < value[0] < 1e6


def test_ctc_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    labels = th.tensor(dtype="int64", shape=(None, 3))
    logits = th.tensor(dtype="float64", shape=(None, 4, 4))
    cost = th.sum(losses.ctc(labels, logits) * th.constant(np.array([1.0, 0.5, 2.0, 1.5, 1.0, 0.3])))
    gradient = th.function([labels, logits], th.grad(cost, logits))
    value = th.function([labels, logits], cost)
    x = rng.normal(size=(6, 4, 4))
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (value(CTC_LABELS, x + step) - value(CTC_LABELS, x - step)) / 2e-6
    np.testing.assert_allclose(gradient(CTC_LABELS, x), numeric, atol=1e-6)


def test_ctc_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"`y_true` are expected to be a tensor of shape `\(batch_size, max_length\)`"):
        losses.ctc(np.array([1, 2]), np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r"Logits `y_pred` are expected .* Received: y_pred.shape=\(1, 3\)"):
        losses.ctc(np.array([[1, 2]]), np.zeros((1, 3)))


def test_ctc_trains_a_model_and_resumes_after_save(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    y = rng.integers(1, 4, (16, 2))

    def model():
        th.set_seed(0)
        net = models.Sequential([layers.Input((6, 3)), layers.Dense(8, activation="tanh"), layers.Dense(4)])
        net.compile(optimizer="adam", loss="ctc")
        return net

    whole, half = model(), model()
    before = whole.evaluate(x, y, verbose=0)
    whole.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    assert whole.evaluate(x, y, verbose=0) < before
    expected = np.mean([_brute_force_ctc(y[i], whole.predict(x[i:i + 1], verbose=0)[0].astype("float64"))
                        for i in range(3)])
    assert np.mean(losses.ctc(y[:3], whole.predict(x[:3], verbose=0))) == pytest.approx(expected, rel=1e-4)
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "ctc.theanine")
    resumed = models.load_model(tmp_path / "ctc.theanine")
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- circle


def _np_circle(labels, embeddings, gamma=80.0, margin=0.4, remove_diagonal=True):
    distances = np.maximum(1 - embeddings @ embeddings.T, 0.0)
    positive = labels[:, None] == labels[None, :]
    negative = ~positive
    if remove_diagonal:
        positive &= ~np.eye(len(labels), dtype=bool)
    pos = -gamma * np.maximum((margin + distances) * positive, 0) * (margin - distances)
    neg = gamma * np.maximum((1 + margin - distances) * negative, 0) * (1 - margin - distances)

    def logsumexp(values, mask):
        out = np.full(len(values), -np.inf)
        for i in range(len(values)):
            if mask[i].any():
                kept = values[i][mask[i]]
                out[i] = kept.max() + np.log(np.exp(kept - kept.max()).sum())
        return out

    total = logsumexp(pos, positive) + logsumexp(neg, negative)
    return np.where(np.isfinite(total), np.logaddexp(0, total), 0.0)


@pytest.mark.parametrize("options", [{}, {"gamma": 10.0, "margin": 0.2, "remove_diagonal": False}])
def test_circle_against_numpy_and_its_masked_mean(options):
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(6, 4))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.array([0, 1, 0, 2, 1, 3])  # 2 and 3 have no positive pair: loss 0, left out of the mean
    expected = _np_circle(labels, embeddings, **options)
    np.testing.assert_allclose(losses.circle(labels, embeddings, **options), expected, rtol=1e-6)
    reduced = losses.Circle(**options)(labels, embeddings)
    assert reduced == pytest.approx(expected[expected > 0].mean(), rel=1e-6)


def test_circle_with_reference_embeddings():
    rng = np.random.default_rng(4)
    queries, references = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    references /= np.linalg.norm(references, axis=1, keepdims=True)
    labels, ref_labels = np.array([0, 1, 2]), np.array([0, 1, 1, 2, 0])
    distances = np.maximum(1 - queries @ references.T, 0)
    positive = labels[:, None] == ref_labels[None, :]
    positive &= ~np.eye(3, 5, dtype=bool)
    pos = np.where(positive, -80 * np.maximum(0.4 + distances, 0) * (0.4 - distances), -np.inf)
    neg = np.where(~positive & (labels[:, None] != ref_labels[None, :]),
                   80 * np.maximum(1.4 - distances, 0) * (0.6 - distances), -np.inf)
    expected = np.logaddexp(0, np.logaddexp.reduce(pos, 1) + np.logaddexp.reduce(neg, 1))
    got = losses.circle(labels, queries, ref_labels=ref_labels, ref_embeddings=references)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# ----------------------------------------------------------------------------- generalized crossentropy


def test_generalized_cross_entropy_against_numpy():
    rng = np.random.default_rng(5)
    probabilities = rng.dirichlet(np.ones(4), size=7)
    labels = rng.integers(0, 4, 7)
    for q in (0.1, 0.5, 0.9):
        expected = (1 - probabilities[np.arange(7), labels] ** q) / q
        np.testing.assert_allclose(losses.categorical_generalized_cross_entropy(labels, probabilities, q=q),
                                   expected, rtol=1e-10)
        column = losses.categorical_generalized_cross_entropy(labels[:, None], probabilities, q=q)
        np.testing.assert_allclose(column, expected, rtol=1e-10)
    y_pred = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    keras_example = losses.CategoricalGeneralizedCrossEntropy()(np.array([0, 1, 0, 1]), y_pred)
    assert keras_example == pytest.approx(0.3598597, abs=1e-6)


def test_generalized_cross_entropy_q_outside_the_interval_raises():
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\). Received: q=1.0"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(ValueError, match="q must be in the interval"):
        losses.categorical_generalized_cross_entropy(np.array([0]), np.array([[1.0, 0.0]]), q=0)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("make", [
    lambda: losses.CTC(reduction="sum"),
    lambda: losses.Circle(gamma=20.0, margin=0.3, remove_diagonal=False, name="c"),
    lambda: losses.CategoricalGeneralizedCrossEntropy(q=0.7, reduction="none"),
])
def test_config_round_trip(make):
    loss = make()
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


@pytest.mark.parametrize("name, cls", [("ctc", losses.CTC), ("CTC", losses.CTC), ("circle", losses.Circle),
                                       ("categorical_generalized_cross_entropy",
                                        losses.CategoricalGeneralizedCrossEntropy)])
def test_lookup_by_name(name, cls):
    assert isinstance(losses.get(name), cls)


def test_generalized_cross_entropy_and_circle_train_in_fit():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    th.set_seed(1)
    classifier = models.Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    classifier.compile(optimizer="adam", loss=losses.CategoricalGeneralizedCrossEntropy(q=0.6))
    history = classifier.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    th.set_seed(1)
    embedder = models.Sequential([layers.Input((5,)), layers.Dense(4), layers.UnitNormalization()])
    embedder.compile(optimizer="adam", loss=losses.Circle(gamma=16.0))
    history = embedder.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_loss_object_called_on_arrays_keeps_the_mask_of_its_losses():
    """ignore_class on arrays: the mean runs over the other entries, as Keras (and as in compile)."""
    probabilities = np.array([[0.5, 0.5], [0.2, 0.8], [0.2, 0.8]])
    loss = losses.SparseCategoricalCrossentropy(ignore_class=0)(np.array([0, 1, 1]), probabilities)
    assert loss == pytest.approx(-np.log(0.8))

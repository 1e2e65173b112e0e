"""Keras 3's probabilistic, regression and hinge metrics (losses averaged as metrics), against NumPy.

``compile(metrics=["sparse_categorical_crossentropy"])`` and the classes
(``metrics.BinaryCrossentropy(from_logits=True)``, ...) average Keras'
per-sample values over the samples (weighted, and masked as every mean metric).
"""

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.frontend import layers, metrics, models

R = np.random.default_rng(11)
EPS = 1e-7


@pytest.fixture(autouse=True)
def _float64():
    with th.config.context(floatX="float64"):
        yield


def _probabilities(shape):
    return scipy.special.softmax(R.standard_normal(shape), axis=-1)


def _np_cosine(t, p):
    t = t / np.sqrt(np.maximum((t ** 2).sum(-1, keepdims=True), 1e-12))
    p = p / np.sqrt(np.maximum((p ** 2).sum(-1, keepdims=True), 1e-12))
    return (t * p).sum(-1)


def _np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def _hinge_labels(t):
    return 2 * t - 1


CASES = {
    # name: (metric, y_true, y_pred, per-sample NumPy values)
    "msle": (lambda: R.uniform(0, 2, (6, 3)), lambda: R.uniform(0, 2, (6, 3)),
             lambda t, p: ((np.log1p(p) - np.log1p(t)) ** 2).mean(-1)),
    "mape": (lambda: R.uniform(0.5, 2, (6, 3)), lambda: R.uniform(0, 2, (6, 3)),
             lambda t, p: 100 * np.abs((t - p) / t).mean(-1)),
    "cosine_similarity": (lambda: R.standard_normal((6, 3)), lambda: R.standard_normal((6, 3)), _np_cosine),
    "logcosh": (lambda: R.standard_normal((6, 3)), lambda: R.standard_normal((6, 3)),
                lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    "binary_crossentropy": (lambda: R.integers(0, 2, (6, 3)).astype(float), lambda: R.uniform(0.05, 0.95, (6, 3)),
                            _np_bce),
    "categorical_crossentropy": (lambda: np.eye(4)[R.integers(0, 4, 6)], lambda: _probabilities((6, 4)),
                                 lambda t, p: -(t * np.log(np.clip(p, EPS, 1 - EPS))).sum(-1)),
    "sparse_categorical_crossentropy": (lambda: R.integers(0, 4, 6), lambda: _probabilities((6, 4)),
                                        lambda t, p: -np.log(np.clip(p[np.arange(6), t], EPS, 1 - EPS))),
    "kl_divergence": (lambda: _probabilities((6, 4)), lambda: _probabilities((6, 4)),
                      lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1)),
    "poisson": (lambda: R.uniform(0, 3, (6, 3)), lambda: R.uniform(0.1, 3, (6, 3)),
                lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    "hinge": (lambda: R.integers(0, 2, (6, 3)).astype(float), lambda: R.standard_normal((6, 3)),
              lambda t, p: np.maximum(1 - _hinge_labels(t) * p, 0).mean(-1)),
    "squared_hinge": (lambda: R.integers(0, 2, (6, 3)).astype(float), lambda: R.standard_normal((6, 3)),
                      lambda t, p: (np.maximum(1 - _hinge_labels(t) * p, 0) ** 2).mean(-1)),
    "categorical_hinge": (lambda: np.eye(4)[R.integers(0, 4, 6)], lambda: R.standard_normal((6, 4)),
                          lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_metrics_average_keras_values(name):
    make_true, make_pred, reference = CASES[name]
    metric = metrics.get(name)
    assert metric.name == name
    again = type(metric).from_config(metric.get_config())
    y_true, y_pred, weights = make_true(), make_pred(), R.uniform(0.5, 2.0, 6)
    values = reference(y_true, y_pred)
    metric.update_state(y_true[:4], y_pred[:4])
    metric.update_state(y_true[4:], y_pred[4:])
    assert metric.result() == pytest.approx(values.mean(), rel=1e-9)
    again.update_state(y_true, y_pred, sample_weight=weights)
    assert again.result() == pytest.approx((values * weights).sum() / weights.sum(), rel=1e-9)


def test_names_classes_and_options():
    assert isinstance(metrics.get("bce"), metrics.BinaryCrossentropy)
    assert isinstance(metrics.get("kld"), metrics.KLDivergence)
    assert metrics.LogCoshError().name == "logcosh" and metrics.CosineSimilarity().name == "cosine_similarity"
    logits, labels = R.standard_normal((5, 3)), R.integers(0, 2, (5, 3)).astype(float)
    metric = metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)
    metric.update_state(labels, logits)
    smoothed = labels * 0.8 + 0.1
    expected = -(smoothed * np.log(scipy.special.expit(logits)) + (1 - smoothed) * np.log(scipy.special.expit(-logits)))
    assert metric.result() == pytest.approx(expected.mean(), rel=1e-6)
    assert metrics.BinaryCrossentropy.from_config(metric.get_config()).get_config() == metric.get_config()
    with pytest.raises(TypeError, match="unexpected keyword argument 'k'"):
        metrics.Poisson(k=3)


def test_a_loss_metric_in_compile_is_masked_like_the_loss():
    ids = layers.Input((5,), dtype="int64")
    hidden = layers.SimpleRNN(4, return_sequences=True)(layers.Embedding(9, 3, mask_zero=True)(ids))
    model = models.Model(ids, layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_crossentropy", metrics.SparseCategoricalCrossentropy(name="scce")])
    tokens, labels = R.integers(1, 9, (4, 5)), R.integers(0, 3, (4, 5))
    tokens[0, 3:], tokens[2, :2] = 0, 0
    logs = model.evaluate(tokens, labels, verbose=0, return_dict=True)
    p, valid = model.predict(tokens, verbose=0), tokens != 0
    nll = -np.log(np.clip(np.take_along_axis(p, labels[..., None], -1)[..., 0], EPS, 1 - EPS))
    expected = (nll * valid).sum() / valid.sum()
    assert logs["loss"] == pytest.approx(expected, rel=1e-10)
    assert logs["sparse_categorical_crossentropy"] == pytest.approx(expected, rel=1e-10)
    assert logs["scce"] == pytest.approx(expected, rel=1e-10)

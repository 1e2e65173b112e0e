"""Masks weigh losses and metrics as in Keras 3, checked against values computed by hand in NumPy.

Keras merges the mask a prediction carries (``Embedding(mask_zero=True)``,
``Masking``, a recurrent layer's output sequence) into the sample weights:
for a loss, valid entries weigh ``total / valid`` under the mean reductions
(0/1 otherwise); for a mean metric (compiled ``metrics`` and
``weighted_metrics`` alike) they weigh 1, so the metric is the mean over
the valid entries.  ``SparseCategoricalCrossentropy(ignore_class=...)``
adds a mask of its own.
"""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, losses, metrics, models, optimizers

R = np.random.default_rng(7)
BATCH, STEPS, VOCAB, FEATURES, UNITS, CLASSES = 4, 5, 9, 3, 4, 3


@pytest.fixture(autouse=True)
def _float64_models():
    with th.config.context(floatX="float64"):
        yield


def _padded_ids():
    ids = R.integers(1, VOCAB, size=(BATCH, STEPS))
    ids[0, 3:] = 0
    ids[1, :1] = 0
    ids[2, 2] = 0
    return ids


def _np_log_softmax_pick(p, labels):
    return -np.log(np.clip(np.take_along_axis(p, labels[..., None], -1)[..., 0], 1e-7, 1 - 1e-7))


def _masked_prediction(shape, mask):
    """A symbolic prediction carrying ``mask`` as its ``_keras_mask``."""
    y_pred = th.tensor("y_pred", "float64", (None,) * len(shape))
    y_pred._keras_mask = th.constant(mask)
    return y_pred


# ----------------------------------------------------------------------------- Loss objects


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_loss_merges_the_mask_into_the_sample_weights(reduction, weighted):
    y_true, y_pred_value = R.standard_normal((2, BATCH, STEPS, 2))
    mask = R.uniform(size=(BATCH, STEPS)) > 0.4
    weights = R.uniform(0.5, 2.0, BATCH)
    y_pred = _masked_prediction(y_pred_value.shape, mask)
    t = th.tensor("t", "float64", (None, None, None))
    sw = th.tensor("sw", "float64", (None,))
    loss = losses.MeanSquaredError(reduction=reduction)(t, y_pred, sample_weight=sw if weighted else None)
    got = th.function([t, y_pred, sw], loss, on_unused_input="ignore")(y_true, y_pred_value, weights)

    per_entry = ((y_true - y_pred_value) ** 2).mean(-1)
    sample = weights[:, None] if weighted else np.ones((BATCH, 1))
    if reduction in ("sum_over_batch_size", "mean"):
        expected = (per_entry * mask * sample).sum() / mask.sum()
    elif reduction == "sum":
        expected = (per_entry * mask * sample).sum()
    elif reduction == "mean_with_sample_weight":
        expected = (per_entry * mask * sample).sum() / (mask * sample).sum()
    else:  # the per-entry values, masked entries 0 (the mask is 0/1 when nothing is averaged)
        expected = per_entry * mask * sample
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_reduction_none_may_be_spelled_none():
    assert losses.MeanSquaredError(reduction=None).reduction == "none"


def test_a_fully_masked_batch_loses_zero_not_nan():
    y_pred = _masked_prediction((2, 3, 1), np.zeros((2, 3), bool))
    t = th.tensor("t", "float64", (None, None, None))
    got = th.function([t, y_pred], losses.MeanSquaredError()(t, y_pred))(np.ones((2, 3, 1)), np.zeros((2, 3, 1)))
    assert float(got) == 0.0


def test_ignore_class_masks_its_entries_and_joins_the_prediction_mask():
    probabilities = R.dirichlet(np.ones(CLASSES), size=(BATCH, STEPS))
    labels = R.integers(0, CLASSES, (BATCH, STEPS))
    labels[0, 0], labels[1, 2], labels[3, 4] = 2, 2, 2
    mask = R.uniform(size=(BATCH, STEPS)) > 0.3
    y_pred = _masked_prediction(probabilities.shape, mask)
    t = th.tensor("t", "int64", (None, None))
    loss = losses.SparseCategoricalCrossentropy(ignore_class=2)
    per_entry = losses.sparse_categorical_crossentropy(t, y_pred, ignore_class=2)
    got_entries, got_loss = th.function([t, y_pred], [per_entry, loss(t, y_pred)])(labels, probabilities)

    valid = labels != 2
    nll = _np_log_softmax_pick(probabilities, np.where(valid, labels, 0))
    np.testing.assert_allclose(got_entries, np.where(valid, nll, 0.0), rtol=1e-12)
    both = valid & mask
    np.testing.assert_allclose(got_loss, (nll * both).sum() / both.sum(), rtol=1e-12)
    assert loss.get_config()["ignore_class"] == 2
    assert losses.SparseCategoricalCrossentropy.from_config(loss.get_config()).get_config() == loss.get_config()


# ----------------------------------------------------------------------------- metrics


def test_a_mean_metric_leaves_masked_entries_out():
    y_true, y_pred_value = R.standard_normal((2, BATCH, STEPS, 2))
    mask = R.uniform(size=(BATCH, STEPS)) > 0.4
    weights = R.uniform(0.5, 2.0, BATCH)
    y_pred = _masked_prediction(y_pred_value.shape, mask)
    t = th.tensor("t", "float64", (None, None, None))
    sw = th.tensor("sw", "float64", (None,))
    metric = metrics.MeanAbsoluteError()
    plain = metric.batch_statistics(t, y_pred)
    weighted = metric.batch_statistics(t, y_pred, sw)
    (s0, c0), (s1, c1) = np.split(np.array(th.function([t, y_pred, sw], plain + weighted)(y_true, y_pred_value,
                                                                                        weights)), 2)
    per_entry = np.abs(y_true - y_pred_value).mean(-1)
    np.testing.assert_allclose(s0 / c0, (per_entry * mask).sum() / mask.sum(), rtol=1e-12)
    w = mask * weights[:, None]
    np.testing.assert_allclose(s1 / c1, (per_entry * w).sum() / w.sum(), rtol=1e-12)


def _sequence_tagger():
    ids = layers.Input((STEPS,), dtype="int64")
    hidden = layers.Embedding(VOCAB, FEATURES, mask_zero=True)(ids)
    hidden = layers.SimpleRNN(UNITS, return_sequences=True)(hidden)
    return models.Model(ids, layers.Dense(CLASSES, activation="softmax")(hidden))


def test_evaluate_weighs_loss_and_compiled_metrics_by_the_mask():
    model = _sequence_tagger()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                  weighted_metrics=["accuracy"])
    ids, labels, weights = _padded_ids(), R.integers(0, CLASSES, (BATCH, STEPS)), R.uniform(0.5, 2.0, BATCH)
    p = model.predict(ids, verbose=0)
    valid = ids != 0
    nll = _np_log_softmax_pick(p, labels)
    correct = (p.argmax(-1) == labels).astype(float)
    top2 = (np.sort(p, -1)[..., -2] <= np.take_along_axis(p, labels[..., None], -1)[..., 0]).astype(float)

    def mean(values, w):
        return (values * w).sum() / w.sum()

    plain = model.evaluate(ids, labels, verbose=0, return_dict=True)
    assert plain["loss"] == pytest.approx(mean(nll, valid), rel=1e-10)
    assert plain["accuracy"] == pytest.approx(mean(correct, valid), rel=1e-10)
    assert plain["top2"] == pytest.approx(mean(top2, valid), rel=1e-10)

    w = valid * weights[:, None]
    weighted = model.evaluate(ids, labels, sample_weight=weights, verbose=0, return_dict=True)
    assert weighted["loss"] == pytest.approx((nll * w).sum() / valid.sum(), rel=1e-10)
    assert weighted["accuracy"] == pytest.approx(mean(correct, valid), rel=1e-10)
    assert weighted["weighted_accuracy"] == pytest.approx(mean(correct, w), rel=1e-10)

    # metrics add up over batches; the loss is each batch's masked mean, averaged by batch size
    batched = model.evaluate(ids, labels, batch_size=3, verbose=0, return_dict=True)
    assert batched["accuracy"] == pytest.approx(mean(correct, valid), rel=1e-10)
    per_batch = [mean(nll[s], valid[s]) for s in (slice(0, 3), slice(3, 4))]
    assert batched["loss"] == pytest.approx((3 * per_batch[0] + per_batch[1]) / 4, rel=1e-10)


def test_fit_ignores_the_targets_at_masked_steps():
    """The gradient of the masked loss does not see targets under the mask: two runs whose
    targets differ only there train to the same weights, and the logged loss is the masked mean."""
    ids, labels = _padded_ids(), R.integers(0, CLASSES, (BATCH, STEPS))
    other = np.where(ids == 0, (labels + 1) % CLASSES, labels)
    trained = []
    for targets in (labels, other):
        th.set_seed(3)
        model = _sequence_tagger()
        model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = model.get_weights()
        valid = ids != 0
        p = model.predict(ids, verbose=0)
        history = model.fit(ids, targets, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        first = history.history
        assert first["loss"][0] == pytest.approx(((_np_log_softmax_pick(p, targets) * valid).sum() / valid.sum()),
                                                 rel=1e-10)
        assert first["accuracy"][0] == pytest.approx(((p.argmax(-1) == targets) * valid).sum() / valid.sum(),
                                                     rel=1e-10)
        trained.append(model.get_weights())
        assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(start, trained[-1], strict=True))
    for a, b in zip(*trained, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_custom_train_step_sees_the_mask_in_compute_loss_and_compute_metrics():
    class Tagger(models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(VOCAB, FEATURES, mask_zero=True)
            self.rnn = layers.SimpleRNN(UNITS, return_sequences=True)
            self.dense = layers.Dense(CLASSES, activation="softmax")

        def call(self, x):
            return self.dense(self.rnn(self.embedding(x)))

        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred)
            return self.compute_metrics(x, y, y_pred, loss=loss)

    model = Tagger()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    ids, labels = _padded_ids(), R.integers(0, CLASSES, (BATCH, STEPS))
    p, valid = model.predict(ids, verbose=0), ids != 0
    logs = model.fit(ids, labels, batch_size=BATCH, epochs=1, verbose=0).history
    assert logs["loss"][0] == pytest.approx((_np_log_softmax_pick(p, labels) * valid).sum() / valid.sum(), rel=1e-10)
    assert logs["accuracy"][0] == pytest.approx(((p.argmax(-1) == labels) * valid).sum() / valid.sum(), rel=1e-10)


def test_temporal_sample_weights_join_the_mask():
    """Keras 3's ``(samples, steps)`` sample weights: one weight per time step, merged with the mask."""
    model = _sequence_tagger()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    ids, labels = _padded_ids(), R.integers(0, CLASSES, (BATCH, STEPS))
    weights = R.uniform(0.5, 2.0, (BATCH, STEPS))
    p, valid = model.predict(ids, verbose=0), ids != 0
    nll = _np_log_softmax_pick(p, labels)
    correct = (p.argmax(-1) == labels).astype(float)
    logs = model.evaluate(ids, labels, sample_weight=weights, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx((nll * weights * valid).sum() / valid.sum(), rel=1e-10)
    assert logs["accuracy"] == pytest.approx((correct * weights * valid).sum() / (weights * valid).sum(), rel=1e-10)
    per_sample = model.evaluate(ids, labels, sample_weight=weights[:, 0], verbose=0, return_dict=True)
    assert per_sample["loss"] == pytest.approx((nll * weights[:, :1] * valid).sum() / valid.sum(), rel=1e-10)
    history = model.fit(ids, labels, sample_weight=weights, batch_size=BATCH, epochs=1, verbose=0).history
    assert history["loss"][0] == pytest.approx(logs["loss"], rel=1e-10)
    with pytest.raises(ValueError, match=r"sample_weight for '\w+' must have shape \(4,\), or \(4, steps\)"):
        model.evaluate(ids, labels, sample_weight=np.ones((BATCH, STEPS, 1)), verbose=0)

"""Losses against NumPy formulas (Keras 3 definitions), with from_logits and sample weights."""

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.frontend import losses

EPS = 1e-7


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def np_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def np_huber(t, p, delta=1.0):
    e = p - t
    return np.mean(
        np.where(np.abs(e) <= delta, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta), axis=-1
    )


def np_bce(t, p, from_logits=False):
    if from_logits:
        p = scipy.special.expit(p)
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), axis=-1)


def np_cce(t, p, from_logits=False):
    p = np_softmax(p) if from_logits else p / p.sum(-1, keepdims=True)
    return -np.sum(t * np.log(np.clip(p, EPS, 1 - EPS)), axis=-1)


def np_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def np_hinge(t, p):
    t = 2 * t - 1 if np.all((t == 0) | (t == 1)) else t
    return np.mean(np.maximum(1 - t * p, 0), axis=-1)


def np_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def np_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), axis=-1)


def np_squared_hinge(t, p):
    t = 2 * t - 1 if np.all((t == 0) | (t == 1)) else t
    return np.mean(np.maximum(1 - t * p, 0) ** 2, axis=-1)


def np_categorical_hinge(t, p):
    positive = np.sum(t * p, axis=-1)
    negative = np.max((1 - t) * p, axis=-1)
    return np.maximum(negative - positive + 1, 0)


def np_mape(t, p):
    return 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), EPS), axis=-1)


def np_msle(t, p):
    return np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2, axis=-1)


def np_cosine(t, p):
    def unit(x):
        return x / np.sqrt(np.maximum(np.sum(x * x, -1, keepdims=True), 1e-12))

    return -np.sum(unit(t) * unit(p), axis=-1)


@pytest.fixture
def data(rng):
    logits = rng.normal(size=(6, 4)) * 2
    probs = np_softmax(logits)
    onehot = np.eye(4)[rng.integers(0, 4, size=6)]
    binary = rng.integers(0, 2, size=(6, 4)).astype("float64")
    real = rng.normal(size=(6, 4))
    weights = rng.uniform(0, 2, size=6)
    counts = rng.poisson(2.0, size=(6, 4)).astype("float64")
    positive = rng.uniform(0.5, 3.0, size=(6, 4))
    return {
        "counts": counts,
        "positive": positive,
        "logits": logits,
        "probs": probs,
        "onehot": onehot,
        "binary": binary,
        "real": real,
        "weights": weights,
    }


def evaluate_loss(loss, y_true, y_pred, sample_weight=None):
    """Compile ``loss`` for float32 inputs of the given shapes and run it."""
    t = th.tensor("t", dtype=_dtype(y_true), shape=_batch_shape(y_true))
    p = th.tensor("p", dtype="float32", shape=_batch_shape(y_pred))
    args, values = [t, p], [np.asarray(y_true, t.dtype), np.asarray(y_pred, "float32")]
    if sample_weight is not None:
        w = th.tensor("w", dtype="float32", shape=_batch_shape(sample_weight))
        args.append(w)
        values.append(np.asarray(sample_weight, "float32"))
        return th.function(args, loss(t, p, sample_weight=w))(*values)
    return th.function(args, loss(t, p))(*values)


def _batch_shape(array):
    """The static shape of a batch like ``array``: unknown batch size, known feature dims."""
    return (None,) + np.shape(array)[1:]


def _dtype(array):
    return "int64" if np.asarray(array).dtype.kind in "iu" else "float32"


# (loss object, NumPy per-sample function, y_true key, y_pred key)
CASES = [
    ("mse", losses.MeanSquaredError(), np_mse, "real", "logits"),
    ("mae", losses.MeanAbsoluteError(), np_mae, "real", "logits"),
    ("huber", losses.Huber(), np_huber, "real", "logits"),
    ("huber_delta", losses.Huber(delta=0.3), lambda t, p: np_huber(t, p, 0.3), "real", "logits"),
    ("bce", losses.BinaryCrossentropy(), np_bce, "binary", "probs"),
    (
        "bce_logits",
        losses.BinaryCrossentropy(from_logits=True),
        lambda t, p: np_bce(t, p, True),
        "binary",
        "logits",
    ),
    ("cce", losses.CategoricalCrossentropy(), np_cce, "onehot", "probs"),
    (
        "cce_logits",
        losses.CategoricalCrossentropy(from_logits=True),
        lambda t, p: np_cce(t, p, True),
        "onehot",
        "logits",
    ),
    ("kld", losses.KLDivergence(), np_kld, "probs", "probs"),
    ("hinge", losses.Hinge(), np_hinge, "binary", "logits"),
    ("hinge_signed", losses.Hinge(), np_hinge, "signed", "logits"),
    ("cosine", losses.CosineSimilarity(), np_cosine, "real", "logits"),
    ("poisson", losses.Poisson(), np_poisson, "counts", "positive"),
    ("log_cosh", losses.LogCosh(), np_log_cosh, "real", "logits"),
    ("squared_hinge", losses.SquaredHinge(), np_squared_hinge, "binary", "logits"),
    ("squared_hinge_signed", losses.SquaredHinge(), np_squared_hinge, "signed", "logits"),
    ("categorical_hinge", losses.CategoricalHinge(), np_categorical_hinge, "onehot", "logits"),
    ("mape", losses.MeanAbsolutePercentageError(), np_mape, "real", "logits"),
    ("msle", losses.MeanSquaredLogarithmicError(), np_msle, "positive", "real"),
]


def _values(data, key):
    if key == "signed":
        return np.where(data["binary"] > 0, 1.0, -1.0)
    return data[key]


@pytest.mark.parametrize(
    "name, loss, reference, true_key, pred_key", CASES, ids=[c[0] for c in CASES]
)
def test_loss_matches_numpy(name, loss, reference, true_key, pred_key, data, rng):
    y_true, y_pred = _values(data, true_key), data[pred_key]
    if name == "kld":
        y_pred = np_softmax(rng.normal(size=y_true.shape))
    per_sample = reference(y_true, y_pred)
    np.testing.assert_allclose(
        evaluate_loss(loss, y_true, y_pred), per_sample.mean(), rtol=2e-5, atol=1e-6
    )
    weighted = evaluate_loss(loss, y_true, y_pred, data["weights"])
    np.testing.assert_allclose(
        weighted, np.sum(per_sample * data["weights"]) / len(per_sample), rtol=2e-5, atol=1e-6
    )


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(from_logits, data, rng):
    labels = rng.integers(0, 4, size=6)
    y_pred = data["logits"] if from_logits else data["probs"]
    probs = data["probs"]
    per_sample = -np.log(np.clip(probs[np.arange(6), labels], EPS, 1 - EPS))
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    np.testing.assert_allclose(evaluate_loss(loss, labels, y_pred), per_sample.mean(), rtol=2e-5)
    weighted = evaluate_loss(loss, labels, y_pred, data["weights"])
    np.testing.assert_allclose(weighted, np.mean(per_sample * data["weights"]), rtol=2e-5)
    float_labels = evaluate_loss(loss, labels.astype("float32")[:, None], y_pred)
    np.testing.assert_allclose(float_labels, per_sample.mean(), rtol=2e-5)


def test_crossentropy_from_logits_is_stable_for_large_logits():
    logits = np.array([[1e4, -1e4, 0.0]])
    onehot = np.array([[0.0, 1.0, 0.0]])
    value = evaluate_loss(losses.CategoricalCrossentropy(from_logits=True), onehot, logits)
    assert value == pytest.approx(2e4, rel=1e-6)
    value = evaluate_loss(
        losses.BinaryCrossentropy(from_logits=True), np.array([[1.0]]), np.array([[-200.0]])
    )
    assert value == pytest.approx(200.0, rel=1e-6)


def test_label_smoothing(data):
    smoothed = data["onehot"] * 0.8 + 0.2 / 4
    value = evaluate_loss(
        losses.CategoricalCrossentropy(label_smoothing=0.2), data["onehot"], data["probs"]
    )
    np.testing.assert_allclose(value, np_cce(smoothed, data["probs"]).mean(), rtol=2e-5)
    smoothed_binary = data["binary"] * 0.9 + 0.05
    value = evaluate_loss(
        losses.BinaryCrossentropy(label_smoothing=0.1), data["binary"], data["probs"]
    )
    np.testing.assert_allclose(value, np_bce(smoothed_binary, data["probs"]).mean(), rtol=2e-5)


def test_shapes_known_only_at_run_time(data, rng):
    labels = rng.integers(0, 4, size=(6, 1)).astype("float32")
    t, p = th.matrix("t"), th.matrix("p")
    sparse = th.function([t, p], losses.SparseCategoricalCrossentropy()(t, p))
    want = -np.log(data["probs"][np.arange(6), labels[:, 0].astype(int)]).mean()
    np.testing.assert_allclose(sparse(labels, data["probs"].astype("float32")), want, rtol=2e-5)
    smoothing = th.function([t, p], losses.CategoricalCrossentropy(label_smoothing=0.2)(t, p))
    want = np_cce(data["onehot"] * 0.8 + 0.05, data["probs"]).mean()
    np.testing.assert_allclose(
        smoothing(data["onehot"].astype("float32"), data["probs"].astype("float32")),
        want,
        rtol=2e-5,
    )


def test_targets_of_rank_one_match_predictions_with_one_unit(rng):
    y_true = rng.normal(size=5)
    y_pred = rng.normal(size=(5, 1))
    value = evaluate_loss(losses.MeanSquaredError(), y_true, y_pred)
    np.testing.assert_allclose(value, np.mean((y_true - y_pred[:, 0]) ** 2), rtol=2e-5)


def test_sample_weight_of_shape_batch_by_one(data):
    weights = data["weights"][:, None]
    value = evaluate_loss(losses.MeanSquaredError(), data["real"], data["logits"], weights)
    np.testing.assert_allclose(
        value, np.mean(np_mse(data["real"], data["logits"]) * data["weights"]), rtol=2e-5
    )


@pytest.mark.parametrize(
    "reduction, reduce",
    [
        ("sum", np.sum),
        ("sum_over_batch_size", np.mean),
        ("none", lambda x: x),
    ],
)
def test_reductions(reduction, reduce, data):
    loss = losses.MeanAbsoluteError(reduction=reduction)
    value = evaluate_loss(loss, data["real"], data["logits"], data["weights"])
    np.testing.assert_allclose(
        value, reduce(np_mae(data["real"], data["logits"]) * data["weights"]), rtol=2e-5
    )
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanAbsoluteError(reduction="mean_of_means")


def test_plain_functions_return_per_sample_losses(data):
    t, p = th.matrix("t"), th.matrix("p")
    out = th.function([t, p], losses.mse(t, p))(
        data["real"].astype("float32"), data["logits"].astype("float32")
    )
    np.testing.assert_allclose(out, np_mse(data["real"], data["logits"]), rtol=2e-5)


def test_gradient_of_losses():
    rng = np.random.default_rng(0)
    target = np.eye(3)[[0, 2, 1, 1]]
    for loss in (
        losses.CategoricalCrossentropy(from_logits=True),
        losses.Huber(0.5),
        losses.CosineSimilarity(),
    ):
        th.verify_grad(lambda p, loss=loss: loss(th.constant(target), p), [rng.normal(size=(4, 3))])


@pytest.mark.parametrize(
    "name, cls",
    [
        ("mse", losses.MeanSquaredError),
        ("mae", losses.MeanAbsoluteError),
        ("kld", losses.KLDivergence),
        ("mean_squared_error", losses.MeanSquaredError),
        ("huber", losses.Huber),
        ("hinge", losses.Hinge),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("kl_divergence", losses.KLDivergence),
        ("cosine_similarity", losses.CosineSimilarity),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.name == cls.function.__name__


def test_serialize_round_trip():
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, name="bce")
    restored = losses.get(losses.serialize(loss))
    assert type(restored) is losses.BinaryCrossentropy
    assert restored.get_config() == loss.get_config()
    assert restored.from_logits and restored.name == "bce"
    assert losses.Huber(delta=2.0).get_config() == {
        "name": "huber",
        "reduction": "sum_over_batch_size",
        "delta": 2.0,
    }


def test_custom_function_loss(data):
    def double_mse(y_true, y_pred):
        return 2.0 * losses.mean_squared_error(y_true, y_pred)

    loss = losses.get(double_mse)
    assert loss.name == "double_mse"
    value = evaluate_loss(loss, data["real"], data["logits"])
    np.testing.assert_allclose(value, 2 * np_mse(data["real"], data["logits"]).mean(), rtol=2e-5)
    restored = losses.deserialize(losses.serialize(loss), custom_objects={"double_mse": double_mse})
    assert restored.fn is double_mse


def test_unknown_loss():
    with pytest.raises(ValueError, match="Unknown loss 'focal'"):
        losses.get("focal")
    with pytest.raises(TypeError, match="Cannot interpret 3"):
        losses.get(3)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        losses.MeanSquaredError(from_logits=True)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("poisson", losses.Poisson),
        ("log_cosh", losses.LogCosh),
        ("logcosh", losses.LogCosh),
        ("squared_hinge", losses.SquaredHinge),
        ("categorical_hinge", losses.CategoricalHinge),
        ("mape", losses.MeanAbsolutePercentageError),
        ("MAPE", losses.MeanAbsolutePercentageError),
        ("mean_absolute_percentage_error", losses.MeanAbsolutePercentageError),
        ("msle", losses.MeanSquaredLogarithmicError),
        ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError),
    ],
)
def test_new_losses_resolve_by_keras_names(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert type(losses.deserialize(losses.serialize(loss))) is cls


def test_log_cosh_does_not_overflow_for_large_errors():
    value = evaluate_loss(losses.LogCosh(), np.zeros((1, 1)), np.full((1, 1), 200.0))
    np.testing.assert_allclose(value, 200.0 - np.log(2.0), rtol=1e-6)


def test_losses_called_on_arrays_return_values():
    """As Keras: ``keras.losses.MeanSquaredError()(y_true, y_pred)`` and the loss functions give
    numbers on arrays."""
    y_true, y_pred = np.ones((2, 2), "float32"), np.array([[0.0, 1.0], [1.0, 3.0]], "float32")
    assert np.isclose(losses.MeanSquaredError()(y_true, y_pred), np.mean((y_true - y_pred) ** 2))
    assert np.isclose(losses.MeanSquaredError(reduction="sum")(y_true, y_pred), 2.5)
    per_sample = losses.mean_squared_error(y_true, y_pred)
    assert isinstance(per_sample, np.ndarray) and np.allclose(per_sample, [0.5, 2.0])


def _np_binary_focal(y, p, gamma=2.0, alpha=0.25, balanced=False):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    focal = (1 - p_t) ** gamma * bce
    if balanced:
        focal = (y * alpha + (1 - y) * (1 - alpha)) * focal
    return focal.mean(-1)


def test_binary_focal_crossentropy_keras_example_and_options():
    y_true = np.array([[0, 1], [0, 0]], "float32")
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]], "float32")
    np.testing.assert_allclose(losses.binary_focal_crossentropy(y_true, y_pred), [0.330, 0.206], atol=5e-4)
    logits = np.array([[1.5, -0.3], [0.2, -2.0]], "float32")
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5, from_logits=True,
                                          label_smoothing=0.2)
    smoothed = y_true * 0.8 + 0.1
    expected = _np_binary_focal(smoothed, scipy.special.expit(logits.astype(np.float64)), 1.5, 0.4, True).mean()
    np.testing.assert_allclose(loss(y_true, logits), expected, rtol=1e-5)
    assert isinstance(losses.get("binary_focal_crossentropy"), losses.BinaryFocalCrossentropy)
    assert isinstance(losses.get("CategoricalFocalCrossentropy"), losses.CategoricalFocalCrossentropy)
    assert losses.BinaryFocalCrossentropy.from_config(loss.get_config()).get_config() == loss.get_config()


def test_categorical_focal_crossentropy_normalizes_and_clips():
    rng = np.random.default_rng(3)
    y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
    scores = rng.uniform(0.1, 2.0, (6, 4)).astype("float32")  # not normalized: the loss divides by the sum
    p = np.clip(scores / scores.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    expected = (0.25 * (1 - p) ** 2.0 * -y_true * np.log(p)).sum(-1)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(y_true, scores), expected, rtol=1e-5)
    logits = np.log(scores)
    np.testing.assert_allclose(losses.CategoricalFocalCrossentropy(from_logits=True)(y_true, logits),
                               expected.mean(), rtol=1e-5)


def test_dice_and_tversky_over_the_batch_or_an_axis():
    rng = np.random.default_rng(1)
    y_true = (rng.uniform(size=(4, 6)) > 0.5).astype("float32")
    y_pred = rng.uniform(size=(4, 6)).astype("float32")
    t, p = y_true.astype(np.float64), y_pred.astype(np.float64)

    def np_dice(axis):
        return 1 - 2 * (t * p).sum(axis) / (t.sum(axis) + p.sum(axis) + 1e-7)

    def np_tversky(axis, alpha, beta):
        tp = (t * p).sum(axis)
        return 1 - tp / (tp + alpha * ((1 - p) * t).sum(axis) + beta * (p * (1 - t)).sum(axis) + 1e-7)

    np.testing.assert_allclose(losses.Dice()(y_true, y_pred), np_dice(None), rtol=1e-5)
    np.testing.assert_allclose(losses.dice(y_true, y_pred, axis=-1), np_dice(-1), rtol=1e-5)
    np.testing.assert_allclose(losses.Tversky(alpha=0.3, beta=0.7)(y_true, y_pred), np_tversky(None, 0.3, 0.7),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.Tversky(alpha=0.3, beta=0.7, axis=-1)(y_true, y_pred),
                               np_tversky(-1, 0.3, 0.7).mean(), rtol=1e-5)

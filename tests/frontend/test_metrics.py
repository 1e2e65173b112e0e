"""Metrics against NumPy formulas: accumulation over batches, sample weights, reset, lookup."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import losses, metrics


def feed(metric, batches):
    """Run ``update_state`` on each ``(y_true, y_pred[, sample_weight])``; return the result."""
    metric.reset_state()
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


def split(*arrays, parts=3):
    """The arrays cut into ``parts`` batches along the first axis (None stays None)."""
    cuts = [np.array_split(a, parts) if a is not None else [None] * parts for a in arrays]
    return [tuple(c[i] for c in cuts if c[i] is not None) for i in range(parts)]


@pytest.fixture
def classes(rng):
    probs = rng.dirichlet(np.ones(5), size=30).astype("float32")
    labels = rng.integers(0, 5, size=30)
    labels[:10] = probs[:10].argmax(1)  # some hits
    return probs, labels, rng.uniform(0, 2, size=30).astype("float32")


def weighted_mean(values, weights=None):
    return float(np.average(values, weights=weights))


@pytest.mark.parametrize("use_weights", [False, True])
def test_sparse_categorical_accuracy(classes, use_weights):
    probs, labels, weights = classes
    weights = weights if use_weights else None
    got = feed(metrics.SparseCategoricalAccuracy(), split(labels, probs, weights))
    assert got == pytest.approx(weighted_mean(probs.argmax(1) == labels, weights), rel=1e-6)
    got = feed(
        metrics.SparseCategoricalAccuracy(),
        split(labels[:, None].astype("float32"), probs, weights),
    )
    assert got == pytest.approx(weighted_mean(probs.argmax(1) == labels, weights), rel=1e-6)


@pytest.mark.parametrize("use_weights", [False, True])
def test_categorical_accuracy(classes, use_weights):
    probs, labels, weights = classes
    weights = weights if use_weights else None
    onehot = np.eye(5, dtype="float32")[labels]
    got = feed(metrics.CategoricalAccuracy(), split(onehot, probs, weights))
    assert got == pytest.approx(weighted_mean(probs.argmax(1) == labels, weights), rel=1e-6)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_binary_accuracy(rng, threshold):
    y_true = rng.integers(0, 2, size=(20, 3)).astype("float32")
    y_pred = rng.uniform(size=(20, 3)).astype("float32")
    weights = rng.uniform(0, 2, size=20).astype("float32")
    hits = (y_pred > threshold) == y_true
    metric = metrics.BinaryAccuracy(threshold=threshold)
    assert feed(metric, split(y_true, y_pred)) == pytest.approx(hits.mean(), rel=1e-6)
    per_sample = hits.mean(axis=1)
    assert feed(metric, split(y_true, y_pred, weights)) == pytest.approx(
        weighted_mean(per_sample, weights), rel=1e-6
    )


def test_binary_accuracy_with_one_output_unit(rng):
    y_true = rng.integers(0, 2, size=12).astype("float32")
    y_pred = rng.uniform(size=(12, 1)).astype("float32")
    got = feed(metrics.BinaryAccuracy(), [(y_true, y_pred)])
    assert got == pytest.approx(((y_pred[:, 0] > 0.5) == y_true).mean())


def np_in_top_k(probs, labels, k):
    return (probs > probs[np.arange(len(labels)), labels][:, None]).sum(1) < k


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_categorical_accuracy(classes, k):
    probs, labels, weights = classes
    onehot = np.eye(5, dtype="float32")[labels]
    want = weighted_mean(np_in_top_k(probs, labels, k), weights)
    assert feed(
        metrics.TopKCategoricalAccuracy(k=k), split(onehot, probs, weights)
    ) == pytest.approx(want)
    assert feed(
        metrics.SparseTopKCategoricalAccuracy(k=k), split(labels, probs, weights)
    ) == pytest.approx(want)


def test_top_k_counts_ties_as_inside():
    probs = np.array([[0.4, 0.2, 0.2, 0.2]], "float32")
    assert feed(metrics.SparseTopKCategoricalAccuracy(k=2), [(np.array([3]), probs)]) == 1.0
    assert feed(metrics.SparseTopKCategoricalAccuracy(k=1), [(np.array([3]), probs)]) == 0.0


def test_top_k_default_is_five():
    assert metrics.TopKCategoricalAccuracy().options == {"k": 5}


@pytest.mark.parametrize(
    "metric, reference",
    [
        (metrics.MeanSquaredError(), lambda t, p: np.mean((t - p) ** 2, axis=1)),
        (metrics.MeanAbsoluteError(), lambda t, p: np.mean(np.abs(t - p), axis=1)),
    ],
    ids=["mse", "mae"],
)
def test_mean_error_metrics(rng, metric, reference):
    y_true, y_pred = (
        rng.normal(size=(15, 3)).astype("float32"),
        rng.normal(size=(15, 3)).astype("float32"),
    )
    weights = rng.uniform(0, 2, size=15).astype("float32")
    assert feed(metric, split(y_true, y_pred)) == pytest.approx(
        reference(y_true, y_pred).mean(), rel=1e-6
    )
    want = weighted_mean(reference(y_true, y_pred), weights)
    assert feed(metric, split(y_true, y_pred, weights)) == pytest.approx(want, rel=1e-6)


def np_confusion(y_true, y_pred, threshold, weights=None):
    weights = (
        np.ones_like(y_pred)
        if weights is None
        else np.broadcast_to(
            weights.reshape(weights.shape + (1,) * (y_pred.ndim - weights.ndim)), y_pred.shape
        )
    )
    pred, actual = y_pred > threshold, y_true != 0
    return {
        name: float(np.sum(weights * (p & a)))
        for name, p, a in [
            ("tp", pred, actual),
            ("fp", pred, ~actual),
            ("tn", ~pred, ~actual),
            ("fn", ~pred, actual),
        ]
    }


@pytest.fixture
def binary(rng):
    y_true = rng.integers(0, 2, size=(40, 2)).astype("float32")
    y_pred = np.clip(0.35 * y_true + rng.uniform(size=(40, 2)) * 0.65, 0, 1).astype("float32")
    return y_true, y_pred, rng.uniform(0, 2, size=40).astype("float32")


@pytest.mark.parametrize("threshold", [None, 0.3])
@pytest.mark.parametrize("use_weights", [False, True])
def test_precision_and_recall(binary, threshold, use_weights):
    y_true, y_pred, weights = binary
    weights = weights if use_weights else None
    c = np_confusion(y_true, y_pred, 0.5 if threshold is None else threshold, weights)
    batches = split(y_true, y_pred, weights)
    assert feed(metrics.Precision(thresholds=threshold), batches) == pytest.approx(
        c["tp"] / (c["tp"] + c["fp"])
    )
    assert feed(metrics.Recall(thresholds=threshold), batches) == pytest.approx(
        c["tp"] / (c["tp"] + c["fn"])
    )


def test_precision_without_positive_predictions_is_zero():
    assert feed(metrics.Precision(), [(np.ones(3, "float32"), np.zeros(3, "float32"))]) == 0.0


def np_keras_auc(
    y_true, y_pred, weights=None, num_thresholds=200, curve="ROC", summation="interpolation"
):
    """Keras' AUC: confusion counts at evenly spaced thresholds, then a Riemann sum."""
    thresholds = (
        [-1e-7] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + 1e-7]
    )
    counts = [np_confusion(y_true, y_pred, np.float32(t), weights) for t in thresholds]
    tp, fp, tn, fn = (np.array([c[k] for c in counts]) for k in ("tp", "fp", "tn", "fn"))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp / (tp + fn))
        x, y = (
            (np.nan_to_num(fp / (fp + tn)), recall)
            if curve == "ROC"
            else (recall, np.nan_to_num(tp / (tp + fp)))
        )
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[summation]
    return float(np.sum((x[:-1] - x[1:]) * heights))


def exact_roc_auc(y_true, y_pred):
    """P(score of a positive > score of a negative) + half the ties (Mann-Whitney)."""
    pos, neg = y_pred[y_true == 1], y_pred[y_true == 0]
    diff = pos[:, None] - neg[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


@pytest.mark.parametrize("use_weights", [False, True])
def test_auc_roc_matches_keras_formula(binary, use_weights):
    y_true, y_pred, weights = binary
    weights = weights if use_weights else None
    got = feed(metrics.AUC(), split(y_true, y_pred, weights))
    assert got == pytest.approx(np_keras_auc(y_true, y_pred, weights), rel=1e-6)
    if not use_weights:
        assert got == pytest.approx(exact_roc_auc(y_true.ravel(), y_pred.ravel()), abs=5e-3)


@pytest.mark.parametrize(
    "curve, summation",
    [("ROC", "minoring"), ("ROC", "majoring"), ("PR", "minoring"), ("PR", "majoring")],
)
def test_auc_other_summations(binary, curve, summation):
    y_true, y_pred, _ = binary
    metric = metrics.AUC(num_thresholds=50, curve=curve, summation_method=summation)
    want = np_keras_auc(y_true, y_pred, num_thresholds=50, curve=curve, summation=summation)
    assert feed(metric, split(y_true, y_pred)) == pytest.approx(want, rel=1e-6)


def test_auc_pr_interpolation_brackets_the_rectangle_sums(binary):
    y_true, y_pred, _ = binary
    got = feed(metrics.AUC(curve="PR"), split(y_true, y_pred))
    low = np_keras_auc(y_true, y_pred, curve="PR", summation="minoring")
    high = np_keras_auc(y_true, y_pred, curve="PR", summation="majoring")
    assert low - 1e-6 <= got <= high + 1e-6
    perfect = feed(metrics.AUC(curve="PR"), [(y_true, y_true)])
    assert perfect == pytest.approx(1.0, abs=1e-6)


def test_auc_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_thresholds must be an integer > 1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve in"):
        metrics.AUC(curve="DET")


def test_state_accumulates_and_resets(classes):
    probs, labels, _ = classes
    metric = metrics.SparseCategoricalAccuracy()
    assert metric.result() == 0.0
    metric.update_state(labels[:10], probs[:10])
    assert metric.result() == 1.0
    metric.update_state(labels[10:], probs[10:])
    assert metric.result() == pytest.approx(np.mean(probs.argmax(1) == labels))
    metric.reset_state()
    assert metric.result() == 0.0


def test_batch_statistics_compile_into_a_function(classes):
    probs, labels, weights = classes
    metric = metrics.SparseCategoricalAccuracy()
    y, p, w = th.vector("y", dtype="int64"), th.matrix("p"), th.vector("w")
    stats = th.function([y, p, w], metric.batch_statistics(y, p, w))
    metric.update(stats(labels, probs, weights))
    assert metric.result() == pytest.approx(
        weighted_mean(probs.argmax(1) == labels, weights), rel=1e-6
    )
    with pytest.raises(ValueError, match="expects 2 statistics, received 1"):
        metric.update([np.float32(1)])


@pytest.mark.parametrize(
    "loss, expected",
    [
        ("binary_crossentropy", metrics.BinaryAccuracy),
        (losses.BinaryCrossentropy(from_logits=True), metrics.BinaryAccuracy),
        ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
        (losses.SparseCategoricalCrossentropy(), metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", metrics.CategoricalAccuracy),
        ("mse", metrics.CategoricalAccuracy),
        (None, metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolution_follows_the_loss(loss, expected):
    for name in ("accuracy", "acc"):
        metric = metrics.get(name, loss=loss)
        assert type(metric) is expected
        assert metric.name == name


def test_accuracy_with_one_output_unit_is_binary():
    assert (
        type(metrics.get("accuracy", loss="mse", output_shape=(None, 1))) is metrics.BinaryAccuracy
    )


@pytest.mark.parametrize(
    "name, cls",
    [
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("mse", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("auc", metrics.AUC),
        ("AUC", metrics.AUC),
    ],
)
def test_get_by_name(name, cls):
    metric = metrics.get(name)
    assert type(metric) is cls
    assert metric.name == name


def test_config_round_trip():
    for metric in (
        metrics.AUC(num_thresholds=50, curve="PR"),
        metrics.Precision(thresholds=0.3, name="p"),
        metrics.TopKCategoricalAccuracy(k=3),
        metrics.BinaryAccuracy(threshold=0.7),
    ):
        restored = metrics.get(metrics.serialize(metric))
        assert type(restored) is type(metric)
        assert restored.get_config() == metric.get_config()


def test_custom_function_metric(rng):
    def max_error(y_true, y_pred):
        return th.max(th.abs(y_true - y_pred), axis=-1)

    metric = metrics.get(max_error)
    assert metric.name == "max_error"
    y_true, y_pred = (
        rng.normal(size=(8, 3)).astype("float32"),
        rng.normal(size=(8, 3)).astype("float32"),
    )
    assert feed(metric, split(y_true, y_pred)) == pytest.approx(
        np.abs(y_true - y_pred).max(1).mean(), rel=1e-6
    )


def test_unknown_metric_and_bad_options():
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        metrics.get("f1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'k'"):
        metrics.CategoricalAccuracy(k=3)
    with pytest.raises(ValueError, match="Threshold values must be in \\[0, 1\\]"):
        metrics.Precision(thresholds=[0.2, 1.5])


KERAS_F_SCORE_EXAMPLE = (
    np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32),
    np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32),
)


def test_f1_and_fbeta_scores_match_the_keras_docstrings():
    f1 = metrics.F1Score(threshold=0.5)
    f1.update_state(*KERAS_F_SCORE_EXAMPLE)
    np.testing.assert_allclose(f1.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    fbeta = metrics.FBetaScore(beta=2.0, threshold=0.5)
    fbeta.update_state(*KERAS_F_SCORE_EXAMPLE)
    np.testing.assert_allclose(fbeta.result(), [0.3846154, 0.90909094, 0.8333334], rtol=1e-6)


def np_f_beta(y_true, y_pred, weights, beta, average, threshold):
    if threshold is None:
        positive = (y_pred >= y_pred.max(1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
    else:
        positive = y_pred > threshold
    p, w = positive.astype(float), weights[:, None]
    axis = None if average == "micro" else 0
    tp, fp = (w * p * y_true).sum(axis), (w * p * (1 - y_true)).sum(axis)
    fn, support = (w * (1 - p) * y_true).sum(axis), (w * y_true).sum(axis)
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    score = (1 + beta**2) * precision * recall / (beta**2 * precision + recall + 1e-7)
    if average == "weighted":
        return np.sum(score * support / (support.sum() + 1e-7))
    return score if average is None else np.mean(score)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.3])
def test_fbeta_score_over_batches_with_weights_matches_numpy(rng, average, threshold):
    y_pred = rng.dirichlet(np.ones(4), size=24).astype("float32")
    y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, size=24)]
    weights = rng.uniform(0, 2, size=24).astype("float32")
    metric = metrics.FBetaScore(average=average, beta=0.5, threshold=threshold)
    got = feed(metric, split(y_true, y_pred, weights))
    expected = np_f_beta(y_true, y_pred, weights, 0.5, average, threshold)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert metrics.FBetaScore.from_config(metric.get_config()).get_config() == metric.get_config()


def test_f_score_arguments_are_checked():
    with pytest.raises(ValueError, match=r"average must be one of .* Received: average='mean'"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match=r"beta must be a number > 0. Received: beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"threshold must be None or a float in \(0, 1\]"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match=r"f1_score expects .* shape \(batch, classes\)"):
        metrics.F1Score().update_state(np.zeros(3), np.zeros(3))
    assert "beta" not in metrics.F1Score().get_config()


def test_root_mean_squared_error_matches_the_keras_docstring():
    metric = metrics.RootMeanSquaredError()
    metric.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert metric.result() == pytest.approx(0.5)
    metric.reset_state()
    metric.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert metric.result() == pytest.approx(0.70710677)
    assert metric.name == "root_mean_squared_error"


def test_mean_matches_the_keras_docstring_and_is_not_a_compile_metric():
    metric = metrics.Mean()
    metric.update_state([1, 3, 5, 7])
    assert metric.result() == pytest.approx(4.0)
    metric.reset_state()
    metric.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert metric.result() == pytest.approx(2.0)
    metric.update_state(8.0)
    assert metric.result() == pytest.approx(12.0 / 3)
    from theanine.frontend import layers, models

    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mean"])
    with pytest.raises(TypeError, match=r"Mean averages the values given to its update_state"):
        model.evaluate(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0)


def test_per_class_scores_are_logged_as_arrays_in_fit(rng, capsys):
    from theanine.frontend import layers, models

    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=[metrics.F1Score(), "f1_score"])
    x = rng.normal(size=(10, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[rng.integers(0, 2, size=10)]
    history = model.fit(x, y, epochs=1, verbose=2)
    assert history.history["f1_score"][0].shape == (2,)
    assert "f1_score_1" in history.history
    assert " - f1_score: [" in capsys.readouterr().out


def test_sum_metric_adds_every_weighted_value():
    total = metrics.Sum()
    total.update_state([1, 3, 5, 7])
    assert total.result() == 16.0
    total.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), sample_weight=[1.0, 0.0])
    assert total.result() == 19.0 and total.name == "sum"
    total.reset_state()
    assert total.result() == 0.0


def test_metric_functions_on_arrays_return_values():
    labels, scores = np.array([1, 0]), np.array([[0.1, 0.9], [0.2, 0.8]])
    assert np.array_equal(metrics.sparse_categorical_accuracy(labels, scores), [1.0, 0.0])
    assert np.array_equal(metrics.binary_accuracy(np.array([[1.0], [0.0]]), np.array([[0.7], [0.6]])), [1.0, 0.0])


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average", None])
def test_r2_score_over_batches_per_output(aggregation):
    rng = np.random.default_rng(12)
    target = rng.standard_normal((20, 3)).astype("float32")
    prediction = (target + 0.3 * rng.standard_normal((20, 3))).astype("float32")
    score = metrics.R2Score(class_aggregation=aggregation)
    score.update_state(target[:10], prediction[:10])
    score.update_state(target[10:], prediction[10:])
    t = target.astype(np.float64)
    ss_res = ((t - prediction) ** 2).sum(0)
    ss_tot = ((t - t.mean(0)) ** 2).sum(0)
    per_output = 1 - ss_res / ss_tot
    expected = {"uniform_average": per_output.mean(), None: per_output,
                "variance_weighted_average": (per_output * ss_tot).sum() / ss_tot.sum()}[aggregation]
    np.testing.assert_allclose(score.result(), expected, rtol=1e-5)


def test_adjusted_r2_counts_every_target_value_as_a_sample():
    rng = np.random.default_rng(13)
    target = rng.standard_normal((20, 3)).astype("float32")
    prediction = (target + 0.3 * rng.standard_normal((20, 3))).astype("float32")
    plain, adjusted = metrics.R2Score(), metrics.R2Score(num_regressors=2)
    for metric in (plain, adjusted):
        metric.update_state(target, prediction)
    n = target.size
    np.testing.assert_allclose(adjusted.result(), 1 - (1 - float(plain.result())) * (n - 1) / (n - 3), rtol=1e-6)
    with pytest.raises(ValueError, match="class_aggregation must be one of"):
        metrics.R2Score(class_aggregation="macro")

"""The IoU family, the rate-at-rate metrics (SensitivityAtSpecificity ...) and the correlation
metrics, against NumPy versions of Keras 3's formulas (checked once against Keras 3.15 on JAX:
equal to 1e-6), and inside compile/evaluate and save/load."""

import numpy as np
import pytest

from theanine.frontend import layers, metrics, models


def _result(metric, *arrays):
    metric.reset_state()
    metric.update_state(*[None if a is None else np.asarray(a) for a in arrays])
    return metric.result()


# ----------------------------------------------------------------------------- NumPy references


def _np_iou(labels, predictions, num_classes, target_ids, weights=None, ignore_class=None):
    labels, predictions = np.ravel(labels), np.ravel(predictions)
    weights = np.ones(labels.shape) if weights is None else np.ravel(weights).astype(float)
    matrix = np.zeros((num_classes, num_classes))
    for t, p, w in zip(labels, predictions, weights, strict=True):
        if 0 <= t < num_classes and 0 <= p < num_classes and t != ignore_class:
            matrix[t, p] += w
    tp = np.diag(matrix)
    denominator = (matrix.sum(0) + matrix.sum(1) - tp)[target_ids]
    valid = denominator > 1e-9
    iou = np.where(valid, tp[target_ids] / (denominator + 1e-7), 0.0)
    return iou.sum() / (valid.sum() + 1e-7)


def _np_rate_at_rate(labels, scores, weights, num_thresholds, constrained, dependent, value):
    thresholds = np.array([0.5]) if num_thresholds == 1 else np.linspace(0, 1, num_thresholds)
    scores = scores if num_thresholds == 1 else np.clip(scores, 0, 1)
    above = scores[:, None] > thresholds[None, :]
    positive = (labels != 0)[:, None]
    w = weights[:, None]
    tp, fp = (w * (above & positive)).sum(0), (w * (above & ~positive)).sum(0)
    tn, fn = (w * (~above & ~positive)).sum(0), (w * (~above & positive)).sum(0)

    def ratio(a, b):
        return np.divide(a, a + b, out=np.zeros_like(a), where=(a + b) != 0)

    rates = {"sensitivity": ratio(tp, fn), "recall": ratio(tp, fn), "specificity": ratio(tn, fp),
             "precision": ratio(tp, fp)}
    return np.max(np.where(rates[constrained] >= value, rates[dependent], 0.0), initial=0.0)


def _np_pearson(a, b, axis=-1):
    def standardized(x):
        centered = x - x.mean(axis, keepdims=True)
        return centered / centered.std(axis, keepdims=True)

    return np.mean(standardized(a) * standardized(b), axis=axis)


def _np_concordance(a, b, axis=-1):
    ma, mb = a.mean(axis, keepdims=True), b.mean(axis, keepdims=True)
    norm = a.var(axis, keepdims=True) + b.var(axis, keepdims=True) + (ma - mb) ** 2
    return np.mean(2 * (a - mb) * (b - mb) / (norm + 1e-7), axis=axis)


# ----------------------------------------------------------------------------- IoU


def test_iou_keras_docstring_examples():
    assert _result(metrics.IoU(2, [0]), [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3, abs=1e-6)
    assert _result(metrics.MeanIoU(2), [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3, abs=1e-6)
    binary = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    assert _result(binary, [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]) == pytest.approx(1 / 3, abs=1e-6)


@pytest.mark.parametrize("ignore_class", [None, -1, 2])
def test_iou_and_mean_iou_with_weights_and_ignore_class_against_numpy(ignore_class):
    rng = np.random.default_rng(3)
    labels = rng.integers(-1, 5, (6, 5))  # -1 and 4 are out of range for 4 classes: left out
    predictions = rng.integers(0, 4, (6, 5))
    weights = rng.random((6, 5))
    iou = metrics.IoU(4, [1, 3], ignore_class=ignore_class)
    expected = _np_iou(labels, predictions, 4, [1, 3], weights, ignore_class)
    assert _result(iou, labels, predictions, weights) == pytest.approx(expected, abs=1e-9)
    mean = metrics.MeanIoU(4, ignore_class=ignore_class)
    expected = _np_iou(labels, predictions, 4, [0, 1, 2, 3], None, ignore_class)
    assert _result(mean, labels, predictions) == pytest.approx(expected, abs=1e-9)


def test_iou_accumulates_over_batches_and_weights_per_sample():
    rng = np.random.default_rng(4)
    labels, predictions = rng.integers(0, 3, (8, 4)), rng.integers(0, 3, (8, 4))
    sample_weight = rng.random(8)  # one weight per sample, given to each of its entries
    metric = metrics.MeanIoU(3)
    metric.update_state(labels[:5], predictions[:5], sample_weight[:5])
    metric.update_state(labels[5:], predictions[5:], sample_weight[5:])
    expected = _np_iou(labels, predictions, 3, [0, 1, 2], np.repeat(sample_weight, 4))
    assert metric.result() == pytest.approx(expected, abs=1e-9)


def test_one_hot_iou_takes_the_arg_max_of_labels_and_scores():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 3, 12)
    scores = rng.random((12, 3))
    one_hot = np.eye(3)[ids]
    expected = _np_iou(ids, scores.argmax(-1), 3, [0, 2])
    assert _result(metrics.OneHotIoU(3, [0, 2]), one_hot, scores) == pytest.approx(expected, abs=1e-9)
    expected = _np_iou(ids, scores.argmax(-1), 3, [0, 1, 2])
    assert _result(metrics.OneHotMeanIoU(3), one_hot, scores) == pytest.approx(expected, abs=1e-9)
    sparse_pred = metrics.OneHotMeanIoU(3, sparse_y_pred=True)
    assert _result(sparse_pred, one_hot, scores.argmax(-1)) == pytest.approx(expected, abs=1e-9)
    # (Keras' docstring example, without its weights): classes 0 and 1 score 0, class 2 scores 1/3
    y_true = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]
    y_pred = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]
    assert _result(metrics.OneHotMeanIoU(3), y_true, y_pred) == pytest.approx(1 / 9, abs=1e-6)


def test_iou_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"Target class ids must be in \[0, 2\)"):
        metrics.IoU(2, [0, 2])
    with pytest.raises(ValueError, match="num_classes to be an integer >= 1"):
        metrics.MeanIoU(0)


# ----------------------------------------------------------------------------- rate at rate


RATE_METRICS = [
    ("SensitivityAtSpecificity", "specificity", "sensitivity", 0.6),
    ("SpecificityAtSensitivity", "sensitivity", "specificity", 0.7),
    ("PrecisionAtRecall", "recall", "precision", 0.4),
    ("RecallAtPrecision", "precision", "recall", 0.6),
]


@pytest.mark.parametrize("num_thresholds", [200, 7, 1])
@pytest.mark.parametrize("name, constrained, dependent, value", RATE_METRICS)
def test_rate_at_rate_against_numpy(name, constrained, dependent, value, num_thresholds):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50).astype("float32")
    scores = np.clip(rng.random(50) * 1.2 - 0.1, -0.1, 1.1).astype("float32")  # some outside [0, 1]
    weights = rng.random(50).astype("float32")
    metric = getattr(metrics, name)(value, num_thresholds=num_thresholds)
    expected = _np_rate_at_rate(labels, scores, weights, num_thresholds, constrained, dependent, value)
    assert _result(metric, labels, scores, weights) == pytest.approx(expected, abs=1e-6)


def test_rate_at_rate_keras_docstring_examples_and_class_id():
    labels, scores = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    assert _result(metrics.SensitivityAtSpecificity(0.5), labels, scores) == 0.5
    assert _result(metrics.SpecificityAtSensitivity(0.5), labels, scores) == pytest.approx(2 / 3)
    assert _result(metrics.PrecisionAtRecall(0.5), labels, scores) == 0.5
    assert _result(metrics.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.5
    rng = np.random.default_rng(1)
    ids, scores = rng.integers(0, 3, 40), rng.random((40, 3))
    expected = _np_rate_at_rate((ids == 1).astype(float), scores[:, 1], np.ones(40), 200,
                                "specificity", "sensitivity", 0.5)
    metric = metrics.SensitivityAtSpecificity(0.5, class_id=1)
    assert _result(metric, np.eye(3)[ids], scores) == pytest.approx(expected, abs=1e-9)


def test_rate_at_rate_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"`specificity` must be in the range \[0, 1\]"):
        metrics.SensitivityAtSpecificity(1.5)
    with pytest.raises(ValueError, match=r"`recall` must be in the range \[0, 1\]. Received: recall=-0.1"):
        metrics.PrecisionAtRecall(-0.1)
    with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 0"):
        metrics.RecallAtPrecision(0.5, num_thresholds=0)


# ----------------------------------------------------------------------------- correlation


@pytest.mark.parametrize("axis", [-1, 0])
def test_correlations_against_numpy(axis):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(8, 5)).astype("float32")
    b = (a + rng.normal(size=(8, 5))).astype("float32")
    pearson = metrics.PearsonCorrelation(axis=axis)
    assert _result(pearson, a, b) == pytest.approx(np.mean(_np_pearson(a, b, axis)), abs=1e-5)
    concordance = metrics.ConcordanceCorrelation(axis=axis)
    assert _result(concordance, a, b) == pytest.approx(np.mean(_np_concordance(a, b, axis)), abs=1e-5)
    np.testing.assert_allclose(metrics.pearson_correlation(a, b, axis=axis), _np_pearson(a, b, axis), atol=1e-5)


def test_correlation_keras_docstring_examples():
    y_true = [[0, 1, 0.5], [1, 1, 0.2]]
    y_pred = [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]
    assert _result(metrics.PearsonCorrelation(), y_true, y_pred) == pytest.approx(0.9966996, abs=1e-6)
    assert _result(metrics.ConcordanceCorrelation(), y_true, y_pred) == pytest.approx(0.9816320, abs=1e-6)


# ----------------------------------------------------------------------------- config, compile, save


NEW_METRICS = [
    lambda: metrics.IoU(3, [0, 2], ignore_class=1, name="iou"),
    lambda: metrics.MeanIoU(3, sparse_y_pred=False, name="miou"),
    lambda: metrics.BinaryIoU([1], threshold=0.4),
    lambda: metrics.OneHotIoU(3, [1], sparse_y_pred=True),
    lambda: metrics.OneHotMeanIoU(3, ignore_class=0),
    lambda: metrics.SensitivityAtSpecificity(0.3, num_thresholds=50, class_id=1),
    lambda: metrics.SpecificityAtSensitivity(0.3),
    lambda: metrics.PrecisionAtRecall(0.2, class_id=0),
    lambda: metrics.RecallAtPrecision(0.9, num_thresholds=10),
    lambda: metrics.PearsonCorrelation(axis=0),
    lambda: metrics.ConcordanceCorrelation(name="ccc"),
]


@pytest.mark.parametrize("make", NEW_METRICS)
def test_config_round_trip(make):
    metric = make()
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric)
    assert again.get_config() == metric.get_config()


@pytest.mark.parametrize("name, cls", [("pearson_correlation", metrics.PearsonCorrelation),
                                       ("concordance_correlation", metrics.ConcordanceCorrelation),
                                       ("binary_io_u", metrics.BinaryIoU), ("BinaryIoU", metrics.BinaryIoU)])
def test_lookup_by_name(name, cls):
    """Keras' names: the class name and its snake case (the classes with required arguments by config)."""
    assert isinstance(metrics.get(name), cls)


@pytest.mark.parametrize("name, config", [("MeanIoU", {"num_classes": 2}), ("mean_io_u", {"num_classes": 3}),
                                          ("precision_at_recall", {"recall": 0.5})])
def test_lookup_of_classes_with_required_arguments(name, config):
    metric = metrics.deserialize({"class_name": name, "config": config})
    assert all(metric.get_config()[key] == value for key, value in config.items())


def test_binary_metrics_in_compile_equal_their_numpy_values():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype("float32")[:, None]
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[
        metrics.BinaryIoU(threshold=0.4, name="biou"), metrics.IoU(2, [1], name="iou1"),
        metrics.SensitivityAtSpecificity(0.6, num_thresholds=30, name="sens"),
        metrics.SpecificityAtSensitivity(0.6, name="spec"), metrics.RecallAtPrecision(0.7, name="rec"),
        metrics.ConcordanceCorrelation(name="ccc"),
    ])
    logs = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)
    labels = y[:, 0].astype("int64")
    assert logs["biou"] == pytest.approx(_np_iou(labels, (scores[:, 0] >= 0.4).astype(int), 2, [0, 1]), abs=1e-6)
    # sparse_y_pred: the probabilities are cast to class ids (all 0 here), as Keras casts them
    assert logs["iou1"] == pytest.approx(_np_iou(labels, scores[:, 0].astype("int64"), 2, [1]), abs=1e-6)
    ones = np.ones(40)
    assert logs["sens"] == pytest.approx(
        _np_rate_at_rate(y[:, 0], scores[:, 0], ones, 30, "specificity", "sensitivity", 0.6), abs=1e-6)
    assert logs["spec"] == pytest.approx(
        _np_rate_at_rate(y[:, 0], scores[:, 0], ones, 200, "sensitivity", "specificity", 0.6), abs=1e-6)
    assert logs["rec"] == pytest.approx(
        _np_rate_at_rate(y[:, 0], scores[:, 0], ones, 200, "precision", "recall", 0.7), abs=1e-6)
    assert logs["ccc"] == pytest.approx(np.mean(_np_concordance(y, scores)), abs=1e-5)


def test_compiled_metrics_evaluate_fit_and_reload(tmp_path):
    """In compile(): values equal the NumPy references on the model's predictions; after save/load
    the metrics come back with their options and evaluate to the same values."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(48, 4)).astype("float32")
    ids = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)
    y = np.eye(3, dtype="float32")[ids]
    model = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[
        metrics.OneHotMeanIoU(3, name="miou"),
        metrics.PrecisionAtRecall(0.5, class_id=2, name="p_at_r"),
        metrics.PearsonCorrelation(name="pcc"),
    ])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)
    assert logs["miou"] == pytest.approx(_np_iou(ids, scores.argmax(-1), 3, [0, 1, 2]), abs=1e-6)
    expected = _np_rate_at_rate(y[:, 2], scores[:, 2], np.ones(48), 200, "recall", "precision", 0.5)
    assert logs["p_at_r"] == pytest.approx(expected, abs=1e-6)
    assert logs["pcc"] == pytest.approx(np.mean(_np_pearson(y, scores)), abs=1e-5)
    model.save(tmp_path / "m.theanine")
    loaded = models.load_model(tmp_path / "m.theanine")
    again = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for name in ("miou", "p_at_r", "pcc"):
        assert again[name] == pytest.approx(logs[name], abs=1e-6)

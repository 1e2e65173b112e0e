"""Precision/Recall(thresholds=[...], top_k, class_id) and AUC(from_logits, multi_label,
label_weights, thresholds): Keras docstring numbers and NumPy (sklearn-style) references."""

import numpy as np
import pytest

from theanine.frontend import layers, metrics, models


def _result(metric, y_true, y_pred, sample_weight=None):
    metric.reset_state()
    metric.update_state(np.asarray(y_true), np.asarray(y_pred, "float32"),
                        None if sample_weight is None else np.asarray(sample_weight, "float32"))
    return metric.result()


def test_precision_and_recall_keras_docstring_examples():
    assert _result(metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)
    assert _result(metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0]) == 1.0
    assert _result(metrics.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1]) == 0.0
    assert _result(metrics.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1]) == 0.5
    assert _result(metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)
    assert _result(metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0]) == 1.0


def _numpy_counts(y_true, y_pred, threshold):
    predicted, actual = y_pred > threshold, y_true != 0
    return (predicted & actual).sum(), (predicted & ~actual).sum(), (~predicted & actual).sum()


def test_several_thresholds_give_one_result_each():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, size=(50, 3)), rng.random((50, 3)).astype("float32")
    thresholds = [0.1, 0.5, 0.9]
    precision = _result(metrics.Precision(thresholds=thresholds), y_true, y_pred)
    recall = _result(metrics.Recall(thresholds=thresholds), y_true, y_pred)
    assert precision.shape == recall.shape == (3,)
    for k, t in enumerate(thresholds):
        tp, fp, fn = _numpy_counts(y_true, y_pred, t)
        assert precision[k] == pytest.approx(tp / (tp + fp))
        assert recall[k] == pytest.approx(tp / (tp + fn))
    assert isinstance(_result(metrics.Precision(thresholds=[0.3]), y_true, y_pred), float)


def _keep_top_k(y_pred, k):
    """NumPy reference of Keras' _filter_top_k (stable order among ties: lower index first)."""
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    kept = np.zeros(y_pred.shape, bool)
    np.put_along_axis(kept, order, True, axis=-1)
    return np.where(kept, y_pred, -1e10)


def test_top_k_and_class_id_against_numpy():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, size=(40, 5))
    y_pred = np.round(rng.random((40, 5)), 1).astype("float32")  # many ties
    for k in (1, 2, 4):
        kept = _keep_top_k(y_pred, k)
        tp, fp, fn = _numpy_counts(y_true, kept, -1e10)
        assert _result(metrics.Precision(top_k=k), y_true, y_pred) == pytest.approx(tp / (tp + fp))
        assert _result(metrics.Recall(top_k=k), y_true, y_pred) == pytest.approx(tp / (tp + fn))
        for class_id in (0, 3):
            tp, fp, fn = _numpy_counts(y_true[:, class_id], kept[:, class_id], 0.5)
            got = _result(metrics.Precision(thresholds=0.5, top_k=k, class_id=class_id),
                          y_true, y_pred)
            assert got == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
    tp, fp, fn = _numpy_counts(y_true[:, 2], y_pred[:, 2], 0.5)
    assert _result(metrics.Recall(class_id=2), y_true, y_pred) == pytest.approx(tp / (tp + fn))


def test_auc_keras_docstring_examples():
    assert _result(metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.75
    assert _result(metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
                   [1, 0, 0, 1]) == 1.0


def _roc_auc(y_true, scores):
    """sklearn's roc_auc_score as the Mann-Whitney statistic (ties count one half)."""
    positive, negative = scores[y_true == 1], scores[y_true == 0]
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return (greater + 0.5 * ties) / (len(positive) * len(negative))


def test_auc_from_logits_approaches_the_exact_roc_auc():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 2, size=400)
    logits = (y_true * 1.5 + rng.normal(size=400)).astype("float32")
    exact = _roc_auc(y_true, logits)
    got = _result(metrics.AUC(num_thresholds=2000, from_logits=True), y_true, logits)
    assert got == pytest.approx(exact, abs=2e-3)
    probabilities = 1 / (1 + np.exp(-logits))
    assert _result(metrics.AUC(num_thresholds=2000), y_true, probabilities) == pytest.approx(got)


def test_auc_multi_label_averages_per_label_areas_and_label_weights():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=(300, 3))
    y_pred = np.clip(y_true * np.array([0.2, 0.4, 0.0]) + rng.random((300, 3)) * 0.8, 0, 1)
    per_label = [_roc_auc(y_true[:, j], y_pred[:, j]) for j in range(3)]
    many = dict(num_thresholds=3000)
    got = _result(metrics.AUC(multi_label=True, num_labels=3, **many), y_true, y_pred)
    assert got == pytest.approx(np.mean(per_label), abs=2e-3)
    weights = [1.0, 3.0, 0.0]
    weighted = _result(metrics.AUC(multi_label=True, label_weights=weights, **many),
                       y_true, y_pred)
    assert weighted == pytest.approx(np.average(per_label, weights=weights), abs=2e-3)
    flat = _result(metrics.AUC(**many), y_true, y_pred)  # labels flattened into one
    assert flat == pytest.approx(_roc_auc(y_true.ravel(), y_pred.ravel()), abs=2e-3)
    only_first = _result(metrics.AUC(label_weights=[1.0, 0.0, 0.0], **many), y_true, y_pred)
    assert only_first == pytest.approx(per_label[0], abs=2e-3)


def test_auc_explicit_thresholds_add_the_keras_ends():
    metric = metrics.AUC(thresholds=[0.5])
    assert metric.thresholds == [-1e-7, 0.5, 1 + 1e-7] and metric.num_thresholds == 3
    assert _result(metric, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.75


def test_bad_options_raise():
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        metrics.Precision(top_k=0)
    with pytest.raises(ValueError, match="class_id must be an integer >= 0"):
        metrics.Recall(class_id=-1)
    with pytest.raises(ValueError, match="label_weights must be non-negative"):
        metrics.AUC(label_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="multi_label=True expects predictions of shape"):
        metrics.AUC(multi_label=True).update_state(np.ones(3), np.ones(3))


def test_options_survive_config_and_compile():
    metric = metrics.AUC(multi_label=True, label_weights=[1.0, 2.0], from_logits=True)
    again = metrics.deserialize(metrics.serialize(metric))
    assert (again.multi_label, again.label_weights, again.from_logits) == (True, [1.0, 2.0], True)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :2] > 0).astype("float32")
    model = models.Sequential([layers.Input((4,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse",
                  metrics=[metrics.Precision(top_k=1, name="p1"),
                           metrics.AUC(multi_label=True, from_logits=True, name="auc")])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    logits = model.predict(x, verbose=0)
    tp, fp, _ = _numpy_counts(y, _keep_top_k(logits, 1), -1e10)
    assert logs["p1"] == pytest.approx(tp / (tp + fp))
    expected = np.mean([_roc_auc(y[:, j], logits[:, j]) for j in range(2)])
    assert logs["auc"] == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("name, expected", [
    ("TruePositives", [4.0, 2.0, 1.0]), ("FalsePositives", [1.0, 1.0, 0.0]),
    ("TrueNegatives", [1.0, 1.0, 2.0]), ("FalseNegatives", [0.0, 2.0, 3.0]),
])
def test_confusion_counts_at_several_thresholds_with_weights(name, expected):
    labels = np.array([1, 0, 1, 1, 0], "float32")
    predictions = np.array([0.9, 0.6, 0.2, 0.7, 0.1], "float32")
    weights = np.array([1, 1, 2, 1, 1], "float32")
    counted = getattr(metrics, name)(thresholds=[0.15, 0.5, 0.8])
    counted.update_state(labels, predictions, sample_weight=weights)
    np.testing.assert_allclose(counted.result(), expected)
    single = getattr(metrics, name)()
    single.update_state(labels, predictions)
    single.update_state(labels, predictions)  # counts accumulate over batches
    assert float(single.result()) == 2 * {"TruePositives": 2, "FalsePositives": 1, "TrueNegatives": 1,
                                          "FalseNegatives": 1}[name]
    assert single.name == {"TruePositives": "true_positives", "FalsePositives": "false_positives",
                           "TrueNegatives": "true_negatives", "FalseNegatives": "false_negatives"}[name]
    assert type(single).from_config(counted.get_config()).thresholds == [0.15, 0.5, 0.8]

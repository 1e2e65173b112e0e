"""``Unique`` (graph/ops/counting.py) and ``NonMaxSuppression`` (graph/ops/detection.py).

Values against NumPy's ``unique`` and onnx's reference NonMaxSuppression,
under every backend (both run as host calls: their output length depends on
the values); Unique's gradient against finite differences; shape errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.counting import unique
from theanine.graph.ops.detection import non_max_suppression


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("sorted_", [True, False])
def test_unique_matches_numpy(axis, sorted_, backend):
    x = np.array([[3.0, 1.0, 3.0], [2.0, 1.0, 2.0], [3.0, 1.0, 3.0], [0.5, 7.0, 0.5]])
    v = th.tensor("x", "float64", (None, 3))
    f = th.function([v], list(unique(v, axis, sorted_)), backend=backend)
    values, first, inverse, counts = f(x)
    ref_values, ref_first, ref_inverse, ref_counts = np.unique(x, return_index=True, return_inverse=True,
                                                               return_counts=True, axis=axis)
    order = np.arange(len(ref_first)) if sorted_ else np.argsort(ref_first, kind="stable")
    np.testing.assert_array_equal(values, np.take(ref_values, order, axis=axis or 0))
    np.testing.assert_array_equal(first, ref_first[order])
    np.testing.assert_array_equal(counts, ref_counts[order])
    np.testing.assert_array_equal(np.take(values, inverse, axis=axis or 0).reshape(-1) if axis is None
                                  else np.take(values, inverse, axis=axis), x.reshape(-1) if axis is None else x)
    assert all(a.dtype == np.int64 for a in (first, inverse, counts))


@pytest.mark.parametrize("axis", [None, 1])
def test_unique_gradient(axis):
    """Distinct values: finite differences; duplicates: the gradient goes to the first occurrence."""
    v = th.tensor("x", "float64", (2, 3))
    values = unique(v, axis)[0].flatten()
    weights = th.constant(np.random.default_rng(0).standard_normal(6))
    cost = (values * weights[: values.shape[0]]).sum()
    f, g = th.function([v], cost), th.function([v], th.grad(cost, v))
    x = np.array([[0.3, 1.7, 0.9], [2.5, 1.1, 2.1]])
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = 1e-6
        numeric[i] = (f(x + step) - f(x - step)) / 2e-6
    np.testing.assert_allclose(g(x), numeric, rtol=1e-6)
    repeated = np.array([[0.3, 1.7, 0.3], [2.5, 1.7, 2.5]])
    got = g(repeated)
    if axis is None:  # sorted values 0.3, 1.7, 2.5 first seen at flat positions 0, 1, 3
        expected = np.zeros(6)
        expected[[0, 1, 3]] = weights.data[:3]
        np.testing.assert_allclose(got.reshape(-1), expected)
    else:  # columns 0 and 1 are distinct, column 2 repeats column 0
        np.testing.assert_allclose(got[:, :2], weights.data[:4].reshape(2, 2))
        np.testing.assert_array_equal(got[:, 2], 0.0)


def _reference_nms(boxes, scores, max_output, iou, score, center):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = ["boxes", "scores", "max_output", "iou", "score"]
    node = helper.make_node("NonMaxSuppression", names, ["selected"], center_point_box=center)
    graph = helper.make_graph([node], "nms", [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None)
                                              for n in names],
                              [helper.make_tensor_value_info("selected", TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    feeds = dict(zip(names, [boxes, scores, np.array([max_output], np.int64), np.array([iou], np.float32),
                             np.array([score], np.float32)], strict=True))
    return ReferenceEvaluator(model).run(None, feeds)[0]


@pytest.mark.parametrize("center", [0, 1])
def test_non_max_suppression_matches_onnx(center, backend):
    rng = np.random.default_rng(center)
    corners = rng.uniform(0, 10, (2, 30, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(-3, 3, (2, 30, 2)).astype(np.float32)], axis=-1)
    scores = np.round(rng.uniform(0, 1, (2, 3, 30)), 1).astype(np.float32)  # ties, ordered by index
    b, s = th.tensor("boxes", "float32", (None, None, 4)), th.tensor("scores", "float32", (None, None, None))
    f = th.function([b, s], non_max_suppression(b, s, 5, 0.3, 0.25, bool(center)), backend=backend)
    got = f(boxes, scores)
    np.testing.assert_array_equal(got, _reference_nms(boxes, scores, 5, 0.3, 0.25, center))
    assert got.dtype == np.int64 and 0 < len(got) <= 2 * 3 * 5


def test_non_max_suppression_checks_shapes():
    with pytest.raises(ValueError, match=r"boxes must be \(batch, boxes, 4\)"):
        non_max_suppression(th.tensor("b", "float32", (2, 3)), th.tensor("s", "float32", (2, 1, 3)))

"""Regularizers and constraints against NumPy formulas (Keras 3 definitions)."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import constraints, regularizers

W = np.array([[1.0, -2.0, 0.1], [3.0, 4.0, -0.2]], "float32")


def run(fn, value=W):
    w = th.matrix("w")
    return th.function([w], fn(w))(value)


@pytest.mark.parametrize(
    "regularizer, expected",
    [
        (regularizers.L1(), 0.01 * np.abs(W).sum()),
        (regularizers.L2(), 0.01 * np.square(W).sum()),
        (regularizers.L1(0.3), 0.3 * np.abs(W).sum()),
        (regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * np.abs(W).sum() + 0.2 * np.square(W).sum()),
        (regularizers.L1L2(), 0.0),
    ],
    ids=["l1", "l2", "l1_0.3", "l1_l2", "l1_l2_default"],
)
def test_regularizer_values(regularizer, expected):
    value = run(regularizer)
    assert value.shape == () and value.dtype == np.float32
    assert value == pytest.approx(expected, rel=1e-6)


def test_regularizer_gradient():
    points = np.array([[0.5, -1.5], [2.0, -0.25]])
    th.verify_grad(regularizers.L1L2(l1=0.1, l2=0.2), [points])


def test_regularizer_lookup_and_config():
    assert type(regularizers.get("l2")) is regularizers.L2 and regularizers.get("l2").l2 == 0.01
    assert type(regularizers.get("l1_l2")) is regularizers.L1L2
    assert regularizers.get(None) is None
    restored = regularizers.get(regularizers.serialize(regularizers.L1L2(0.5, 0.25)))
    assert (restored.l1, restored.l2) == (0.5, 0.25)
    assert regularizers.serialize(regularizers.L2(0.1)) == {
        "class_name": "L2",
        "config": {"l2": 0.1},
    }
    with pytest.raises(ValueError, match="l2 must be a non-negative float. Received: l2=-1"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        regularizers.get("l3")


def np_norms(w, axis):
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1]])
def test_max_norm(axis):
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    norms = np_norms(W, np_axis)
    expected = W * np.clip(norms, 0, 2.0) / (1e-7 + norms)
    np.testing.assert_allclose(run(constraints.MaxNorm(2.0, axis=axis)), expected, rtol=1e-6)


def test_max_norm_keeps_small_slices():
    small = W / 100
    # unchanged up to the 1e-7 in the denominator (relative 1e-7 / norm)
    np.testing.assert_allclose(run(constraints.get("max_norm"), small), small, rtol=1e-4)


def test_unit_norm_and_min_max_norm():
    np.testing.assert_allclose(run(constraints.UnitNorm()), W / (1e-7 + np_norms(W, 0)), rtol=1e-6)
    norms = np_norms(W, 1)
    desired = 0.5 * np.clip(norms, 0.5, 1.5) + 0.5 * norms
    np.testing.assert_allclose(
        run(constraints.MinMaxNorm(0.5, 1.5, rate=0.5, axis=1)),
        W * desired / (1e-7 + norms),
        rtol=1e-6,
    )


def test_non_neg():
    np.testing.assert_array_equal(run(constraints.NonNeg()), np.maximum(W, 0))


def test_constraint_lookup_and_config():
    for name, cls in [
        ("max_norm", constraints.MaxNorm),
        ("non_neg", constraints.NonNeg),
        ("unit_norm", constraints.UnitNorm),
        ("MinMaxNorm", constraints.MinMaxNorm),
    ]:
        assert type(constraints.get(name)) is cls
    assert constraints.MaxNorm().get_config() == {"max_value": 2.0, "axis": 0}
    restored = constraints.get(constraints.serialize(constraints.MaxNorm(3.0, axis=[0, 1])))
    assert restored.get_config() == {"max_value": 3.0, "axis": [0, 1]}
    assert constraints.get(None) is None and constraints.serialize(None) is None
    with pytest.raises(ValueError, match="Unknown constraint 'positive'"):
        constraints.get("positive")


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_mean_cosine_of_distinct_vectors(mode):
    weight = np.random.default_rng(2).standard_normal((5, 3)).astype("float32")
    w = th.matrix("w", dtype="float32")
    got = th.function([w], regularizers.OrthogonalRegularizer(0.1, mode)(w))(weight)
    vectors = weight.astype(np.float64) if mode == "rows" else weight.T.astype(np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-7)
    cosines = np.abs(unit @ unit.T)[~np.eye(len(unit), dtype=bool)]
    n = len(unit)
    np.testing.assert_allclose(got, 0.1 * 0.5 * cosines.sum() / (n * (n - 1) / 2), rtol=1e-5)
    config = {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.1, "mode": mode}}
    assert regularizers.get(config).mode == mode
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns'"):
        regularizers.OrthogonalRegularizer(mode="diagonal")

"""``th.specify_shape``: static shapes given to a graph, checked when built and when run."""

from __future__ import annotations

import numpy as np
import pytest

import theanine as th


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_gives_the_static_shape_and_checks_it_when_run(backend):
    x = th.matrix("x")
    y = th.specify_shape(x, (2, None))
    assert y.type.shape == (2, None)
    f = th.function([x], y * 2, backend=backend)
    np.testing.assert_array_equal(f(np.ones((2, 3), "float32")), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        f(np.ones((3, 3), "float32"))
    with pytest.raises(ValueError, match=r"shape \(1, 3\)"):  # a run-time 1 is not broadcast
        f(np.ones((1, 3), "float32"))


def test_gradient_passes_through():
    x = th.matrix("x")
    g = th.grad(th.sum(th.specify_shape(x, (2, 3)) ** 2), x)
    value = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(th.function([x], g)(value), 2 * value)


def test_static_disagreement_and_bad_arguments_are_refused_when_built():
    with pytest.raises(ValueError, match="dimension 0 of the input has static size 4, expected 2"):
        th.specify_shape(th.tensor("z", "float32", (4, 3)), (2, 3))
    with pytest.raises(ValueError, match="3 dimensions given for an input of 2"):
        th.specify_shape(th.matrix("x"), (2, 3, 4))
    with pytest.raises(TypeError, match="non-negative int or None"):
        th.specify_shape(th.matrix("x"), (-1, 3))
    known = th.tensor("k", "float32", (2, 3))
    assert th.specify_shape(known, (2, None)) is known

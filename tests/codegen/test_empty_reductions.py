"""Reductions over empty axes behave as NumPy's under every backend.

max and min have no identity: NumPy raises when the reduced axes hold no
element (even when the result is empty too), and so must every backend,
with NumPy's message; sum, prod, all and any give their identities.
"""

import numpy as np
import pytest

import theanine as th

SHAPES = [(0, 3), (3, 0), (0, 0), (2, 3)]
AXES = [0, 1, None, (0, 1)]


def _numpy(kind, value, axis):
    try:
        return getattr(np, kind)(value, axis=axis), None
    except ValueError as exc:
        return None, str(exc)


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("kind", ["max", "min", "sum", "prod", "all", "any"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("fused", [False, True], ids=["plain", "of_elementwise"])
def test_reductions_over_empty_axes_match_numpy(backend, kind, axis, fused):
    x = th.matrix("x", dtype="float64")
    source = th.exp(x) if fused else x
    f = th.function([x], getattr(th, kind)(source, axis=axis), backend=backend)
    for shape in SHAPES:
        value = np.full(shape, 0.5)
        expected, error = _numpy(kind, np.exp(value) if fused else value, axis)
        if error is not None:
            with pytest.raises(ValueError, match=error):
                f(value)
        else:
            np.testing.assert_allclose(f(value), expected, rtol=1e-12)

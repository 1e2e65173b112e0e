"""Property: random elementwise expression graphs give the same values under mode="fast_run" and
mode="none" (numpy backend).

Values are compared where the unoptimized graph is finite: some rewrites are
exact only away from overflow (``log(exp(x)) -> x`` returns x where exp
overflowed to inf), and nan must stay nan.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as th

UNARY = [
    "negative",
    "exp",
    "log",
    "log1p",
    "tanh",
    "sigmoid",
    "square",
    "sin",
    "abs",
    "sqrt",
    "expm1",
    "softplus",
]
BINARY = ["add", "subtract", "multiply", "maximum", "true_divide"]
CONSTANTS = [0.0, 1.0, -1.0, 2.0, 0.5]


@st.composite
def expressions(draw):
    """A program: each step applies an op to earlier values (the inputs x, y and constants)."""
    steps = []
    for _ in range(draw(st.integers(1, 10))):
        available = 2 + len(CONSTANTS) + len(steps)
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(UNARY)), [draw(st.integers(0, available - 1))]))
        else:
            name = draw(st.sampled_from(BINARY + ["power"]))
            first = draw(st.integers(0, available - 1))
            second = (
                draw(st.integers(0, available - 1))
                if name != "power"
                else 2 + draw(st.integers(0, 4))
            )
            steps.append((name, [first, second]))
    outputs = sorted(set(draw(st.lists(st.integers(0, len(steps) - 1), min_size=1, max_size=3))))
    return steps, outputs


def _build(steps, outputs):
    x = th.vector("x", dtype="float64")
    y = th.matrix("y", dtype="float64", shape=(None, None))
    values = [x, y] + [th.constant(np.float64(c)) for c in CONSTANTS]
    for name, args in steps:
        values.append(getattr(th, name)(*[values[i] for i in args]))
    return [x, y], [values[2 + len(CONSTANTS) + i] for i in outputs]


@settings(max_examples=60, deadline=None)
@given(program=expressions(), seed=st.integers(0, 2**16))
def test_fast_run_matches_none(program, seed):
    inputs, outputs = _build(*program)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-3, 3, size=4), rng.uniform(-3, 3, size=(3, 4))
    fast = th.function(inputs, outputs, mode="fast_run", backend="numpy")
    naive = th.function(inputs, outputs, mode="none", backend="numpy")
    for got, expected in zip(fast(x, y), naive(x, y), strict=True):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-9)

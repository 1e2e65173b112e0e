"""Property: random graphs give the same values under the llvm backend as under the numpy backend,
with non-contiguous (strided, reversed, Fortran-order) and broadcast inputs.

A graph is a random program over 2-D values whose shapes are (a, b), (1, b), (a, 1) or (1, 1):
elementwise ops broadcast them, reductions with ``keepdims`` and slices produce them, so every
step's operands fit.  Values are compared where the numpy result is finite; NaN must stay NaN.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as th
from theanine.graph.basic import ancestors

UNARY = {
    "exp": lambda v: th.exp(th.minimum(v, 20.0)),
    "tanh": th.tanh,
    "sin": th.sin,
    "abs": th.abs,
    "sqrt": lambda v: th.sqrt(th.abs(v)),
    "log1p": lambda v: th.log1p(th.abs(v)),
    "sigmoid": th.sigmoid,
    "negative": th.negative,
    "square": th.square,
    "reverse_rows": lambda v: v[::-1],
    "every_other_column": lambda v: th.concatenate([v, v], axis=1)[:, ::2],
    "cast_other_float": lambda v: th.cast(v, "float32" if v.dtype == "float64" else "float64"),
}
BINARY = {
    "add": th.add,
    "subtract": th.subtract,
    "multiply": th.multiply,
    "maximum": th.maximum,
    "minimum": th.minimum,
    "divide": lambda u, v: u / (1.0 + th.abs(v)),
    "where": lambda u, v: th.where(u > v, u, v * 2.0),
}
REDUCE = {
    "sum": lambda v, axis: th.sum(v, axis=axis, keepdims=True),
    "max": lambda v, axis: th.max(v, axis=axis, keepdims=True),
    "mean": lambda v, axis: th.mean(v, axis=axis, keepdims=True),
    "softmax": lambda v, axis: th.softmax(v, axis=axis),
}
LAYOUTS = ["contiguous", "fortran", "strided", "reversed"]


@st.composite
def programs(draw):
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        available = 2 + len(steps)
        kind = draw(st.sampled_from(["unary", "binary", "reduce"]))
        first = draw(st.integers(0, available - 1))
        if kind == "unary":
            steps.append((kind, draw(st.sampled_from(sorted(UNARY))), first, None))
        elif kind == "binary":
            steps.append((kind, draw(st.sampled_from(sorted(BINARY))), first, draw(st.integers(0, available - 1))))
        else:
            steps.append((kind, draw(st.sampled_from(sorted(REDUCE))), first, draw(st.integers(0, 1))))
    outputs = sorted(set(draw(st.lists(st.integers(0, len(steps) - 1), min_size=1, max_size=3))))
    return steps, outputs


def _build(steps, outputs, dtype, y_shape):
    x = th.matrix("x", dtype=dtype)
    y = th.tensor("y", dtype, tuple(1 if d == 1 else None for d in y_shape))
    values = [x, y]
    for kind, name, first, second in steps:
        if kind == "unary":
            values.append(UNARY[name](values[first]))
        elif kind == "binary":
            values.append(BINARY[name](values[first], values[second]))
        else:
            values.append(REDUCE[name](values[first], second))
    return [x, y], [values[2 + i] for i in outputs]


def _laid_out(value: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout (the graph sees equal arrays)."""
    if layout == "fortran":
        return np.asfortranarray(value)
    if layout == "strided":
        wide = np.zeros((value.shape[0] * 2, value.shape[1] * 3), value.dtype)
        wide[::2, ::3] = value
        return wide[::2, ::3]
    if layout == "reversed":
        return value[::-1, ::-1].copy()[::-1, ::-1]
    return value


@settings(max_examples=50, deadline=None)
@given(
    program=programs(),
    dtype=st.sampled_from(["float32", "float64"]),
    rows=st.integers(1, 5),
    columns=st.integers(1, 6),
    y_kind=st.sampled_from(["full", "row", "column", "scalar"]),
    layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)),
    seed=st.integers(0, 2**16),
)
def test_llvm_matches_numpy_backend(program, dtype, rows, columns, y_kind, layouts, seed):
    y_shape = {"full": (rows, columns), "row": (1, columns), "column": (rows, 1), "scalar": (1, 1)}[y_kind]
    inputs, outputs = _build(*program, dtype, y_shape)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(rows, columns)).astype(dtype)
    y = rng.uniform(-3, 3, size=y_shape).astype(dtype)
    args = (_laid_out(x, layouts[0]), _laid_out(y, layouts[1]))
    compiled = th.function(inputs, outputs, backend="llvm")
    reference = th.function(inputs, outputs, backend="numpy")
    for output, got, expected in zip(outputs, compiled(*args), reference(x, y), strict=True):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        # the least precise float the output went through: a float32 exp cast to float64 keeps its error
        single = any(getattr(v, "dtype", None) == "float32" for v in ancestors([output]))
        tolerance = 2e-5 if single else 1e-11
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        finite = np.isfinite(expected)
        scale = np.maximum(1.0, np.abs(expected[finite]))
        assert np.all(np.abs(got[finite] - expected[finite]) <= tolerance * scale), (got, expected)

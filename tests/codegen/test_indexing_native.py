"""Float ranges, slices with a run-time step and boolean masks run natively under backend="llvm".

Each must compile without Python fallbacks and give NumPy's result bit for
bit: with static and symbolic shapes, non-contiguous inputs, empty and
all-true masks, 0-size inputs and two threads.  Bad values raise NumPy's
error (type and message) naming the user's line where the node was made.
"""

import inspect
import os
import re

import numpy as np
import pytest

import theanine as th
from op_table import added_at, set_at

RNG = np.random.default_rng(7)
HERE = re.escape(os.path.basename(__file__))


def native(inputs, outputs):
    """``th.function`` under llvm, checked to run no node through its NumPy ``perform``."""
    f = th.function(inputs, outputs, backend="llvm")
    assert f.python_fallbacks == [], f.explain()
    assert "llvm: 0 Python fallback(s)" in f.explain()
    return f


def matrix(name: str):
    return th.tensor(name, "float64", (None, None))


def assert_identical(got, expected):
    """Same dtype, shape and bytes (so -0.0 and NaN payloads count)."""
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, (got, expected)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes(), (got, expected)


def next_line() -> int:
    """The number of the caller's next line (where the node under test is created)."""
    return inspect.currentframe().f_back.f_lineno + 1


def created_here(line: int) -> str:
    return rf"created at [^\]]*{HERE}:{line}\]"


# --- float arange -----------------------------------------------------------------------


BOUND_DTYPES = [
    ("float64", "float64", "float64"),
    ("float32", "float32", "float32"),
    ("float32", "float64", "float32"),
    ("int64", "float64", "float64"),
    ("int32", "int64", "float32"),
    ("float64", "int64", "int64"),
]


@pytest.mark.parametrize("out_dtype", [None, "float32"])
@pytest.mark.parametrize("dtypes", BOUND_DTYPES, ids=["-".join(d) for d in BOUND_DTYPES])
def test_float_arange_matches_numpy_bit_for_bit(dtypes, out_dtype):
    bounds = [th.tensor(f"b{k}", d, ()) for k, d in enumerate(dtypes)]
    out = th.arange(*bounds, dtype=out_dtype)
    f = native(bounds, out)
    steps = [0.1, -0.7, 1 / 3, 2.5, -0.05, 7.0] if dtypes[2].startswith("float") else [1, -2, 3]
    for _ in range(12):
        start = RNG.standard_normal() * 10
        stop = start + RNG.standard_normal() * 20
        for step in steps:
            values = [np.asarray(v, d) for v, d in zip((start, stop, step), dtypes, strict=True)]
            assert_identical(f(*values), np.arange(*(v[()] for v in values), dtype=out.dtype))


def test_float_arange_keeps_numpy_first_values_and_lengths():
    start, stop, step = (th.tensor(n, "float64", ()) for n in ("start", "stop", "step"))
    f = native([start, stop, step], th.arange(start, stop, step))
    cases = [(-0.0, 3.0, 1.0), (0.1, 0.3, 0.2), (0.0, 1.0, 2.0), (1.0, 1.0, 0.5), (2.0, 1.0, 0.5),
             (0.0, 1.0, np.inf), (0.0, -1.0, np.inf), (0.0, 1e-300, 1e300), (-1e-300, 1e-300, 1e-301),
             (0.0, 1e5 / 3, 1 / 3)]
    for values in cases:
        arrays = [np.asarray(v) for v in values]
        assert_identical(f(*arrays), np.arange(*values))


def test_float_arange_depending_on_data_in_a_larger_graph_and_on_two_threads():
    x = th.tensor("x", "float64", (None,))
    out = th.arange(th.max(x), th.sum(x), 0.25) * 2.0
    value = np.array([0.5, 30000.0, -1.25])
    results = []
    for threads in (1, 2):
        with th.config.context(num_threads=threads):
            results.append(native([x], out)(value))
    for got in results:
        assert_identical(got, np.arange(np.max(value), np.sum(value), 0.25) * 2.0)


@pytest.mark.parametrize("values, error, message", [
    ((0.0, 1.0, 0.0), ValueError, "arange: step must not be zero"),
    ((np.nan, 1.0, 1.0), ValueError, "arange: cannot compute length"),
])
def test_float_arange_errors_are_numpys_at_the_users_line(values, error, message):
    start, stop, step = (th.tensor(n, "float64", ()) for n in ("start", "stop", "step"))
    line = next_line()
    out = th.arange(start, stop, step)
    f = native([start, stop, step], out)
    with pytest.raises(error, match=rf"{message}.*{created_here(line)}"):
        f(*(np.asarray(v) for v in values))


RANGE_CASES = [
    (("float16", "float16", "float16"), "float16"),
    (("float32", "float64", "float32"), "float16"),
    (("float16", "int64", "float32"), "int64"),
    (("float64", "float64", "float64"), "uint8"),
    (("float32", "float32", "float32"), "int8"),
    (("uint8", "uint8", "int8"), "int16"),
    (("int8", "int32", "int64"), "uint8"),
    (("int64", "float16", "int8"), "bool"),
]


@pytest.mark.parametrize("dtypes, out_dtype", RANGE_CASES, ids=["-".join(d) + "->" + o for d, o in RANGE_CASES])
def test_arange_of_any_dtypes_matches_numpy_or_raises_its_error(dtypes, out_dtype):
    """float16 fills round once (NumPy fills in float32); narrow integer bounds subtract with
    NumPy's wraparound; an integer value that does not fit, or a bool range longer than 2,
    raises NumPy's error instead of wrapping."""
    bounds = [th.tensor(f"b{k}", d, ()) for k, d in enumerate(dtypes)]
    f = native(bounds, th.arange(*bounds, dtype=out_dtype))
    rng = np.random.default_rng(3)
    outcomes = set()
    for _ in range(150):
        start = rng.uniform(-20, 40) if dtypes[0].startswith("float") else int(rng.integers(-20, 120))
        stop = start + rng.uniform(-5, 40)
        step = rng.choice([0.5, 1.0, 0.3, -1.0, 2.5, 0.1, 3.0] if dtypes[2].startswith("float") else [1, -1, 2, 3])
        values = [np.asarray(v).astype(d) for v, d in zip((start, stop, step), dtypes, strict=True)]
        with np.errstate(all="ignore"):
            try:
                expected = np.arange(*(v[()] for v in values), dtype=out_dtype)
            except (OverflowError, TypeError, ValueError) as error:
                outcomes.add(type(error))
                with pytest.raises(type(error), match=re.escape(str(error))):
                    f(*values)
                continue
        outcomes.add("values")
        assert_identical(f(*values), expected)
    assert "values" in outcomes


# --- slices with a run-time step --------------------------------------------------------


def _slice_args(count: int):
    return [th.tensor(name, "int32", ()) for name in "abc"[:count]]


@pytest.mark.parametrize("static", [False, True], ids=["symbolic_shape", "static_shape"])
def test_symbolic_slice_step_matches_numpy(static):
    value = np.arange(42.0).reshape(6, 7)
    x = th.tensor("x", "float64", value.shape if static else (None, None))
    a, b, c = _slice_args(3)
    f = native([x, a, b, c], [x[a:b:c], x[1:, ::c].T * 2.0])
    for start in range(-8, 9, 3):
        for stop in range(-8, 9, 4):
            for step in (-3, -1, 1, 2, 7):
                got = f(value, *(np.int32(v) for v in (start, stop, step)))
                assert_identical(got[0], value[start:stop:step])
                assert_identical(got[1], value[1:, ::step].T * 2.0)


def test_symbolic_slice_step_on_non_contiguous_and_empty_inputs():
    x = matrix("x")
    c = th.tensor("c", "int64", ())
    f = native([x, c], x[::c, 1::c])
    base = np.arange(80.0).reshape(8, 10)
    for value in (base.T, base[::2, ::-3], np.zeros((0, 4)), np.zeros((3, 0))):
        for step in (-2, -1, 1, 3):
            assert_identical(f(value, np.int64(step)), value[::step, 1::step])


def test_symbolic_slice_step_in_gathers_and_updates():
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    c = th.tensor("c", "int64", ())
    f = native([x, i, c], [x[i, ::c], th.set_subtensor(x[::c], -1.0), th.inc_subtensor(x[i, ::c], 1.0)])
    value, index = np.arange(20.0).reshape(4, 5), np.array([3, 0, -1, 3])
    for step in (-2, 1, 3):
        got = f(value, index, np.int64(step))
        expected_set = value.copy()
        expected_set[::step] = -1.0
        expected_inc = value.copy()
        np.add.at(expected_inc, (index, slice(None, None, step)), 1.0)
        for g, e in zip(got, [value[index, ::step], expected_set, expected_inc], strict=True):
            assert_identical(g, e)


def test_zero_slice_step_raises_numpys_error_at_the_users_line():
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    a, b, c = _slice_args(3)
    view_line = next_line()
    view = x[a:b:c]
    gather_line = next_line()
    gather = x[i, ::c]
    value = np.ones((3, 4))
    with pytest.raises(ValueError, match=rf"slice step cannot be zero.*{created_here(view_line)}"):
        native([x, a, b, c], view)(value, np.int32(0), np.int32(2), np.int32(0))
    with pytest.raises(ValueError, match=rf"slice step cannot be zero.*{created_here(gather_line)}"):
        native([x, i, c], gather)(value, np.array([0]), np.int32(0))


# --- boolean masks -----------------------------------------------------------------------


MASK_CASES = [
    ("full_mask", lambda x, m, r: x[m], lambda x, m, r: x[m]),
    ("row_mask", lambda x, m, r: x[:, r], lambda x, m, r: x[:, r]),
    ("int_then_mask", lambda x, m, r: x[-1, r], lambda x, m, r: x[-1, r]),
    ("mask_then_newaxis", lambda x, m, r: x[..., r, None], lambda x, m, r: x[..., r, None]),
    ("transposed_mask", lambda x, m, r: x.T[m.T] * 2, lambda x, m, r: x.T[m.T] * 2),
    ("inc_full_mask", lambda x, m, r: th.inc_subtensor(x[m], 2), lambda x, m, r: added_at(x, m, 2)),
    ("set_row_mask", lambda x, m, r: th.set_subtensor(x[:, r], x[:, r][::-1]),
     lambda x, m, r: set_at(x, (slice(None), r), x[:, r][::-1])),
    ("inc_column_mask", lambda x, m, r: th.inc_subtensor(x[m[:, 0]], x[0]),
     lambda x, m, r: added_at(x, m[:, 0], x[0])),
]


def _mask_values(kind: str, shape):
    if kind == "random":
        return RNG.standard_normal(shape) > 0
    return np.full(shape, kind == "all_true")


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
@pytest.mark.parametrize("static", [False, True], ids=["symbolic_shape", "static_shape"])
@pytest.mark.parametrize("build, reference", [c[1:] for c in MASK_CASES], ids=[c[0] for c in MASK_CASES])
def test_masks_match_numpy(build, reference, static, dtype):
    shape = (4, 5)
    x = th.tensor("x", dtype, shape if static else (None, None))
    m = th.tensor("m", "bool", shape if static else (None, None))
    r = th.tensor("r", "bool", shape[1:] if static else (None,))
    f = native([x, m, r], build(x, m, r))
    base = (RNG.standard_normal((8, 10)) * 10).astype(dtype)
    for kind in ("random", "all_false", "all_true"):
        mask = _mask_values(kind, (8, 10))
        for value, m_value in [(base[:4, :5], mask[:4, :5]), (base[::2, ::-2], mask[1::2, ::2])]:
            r_value = m_value[1]
            assert_identical(f(value, m_value, r_value), reference(value, m_value, r_value))


@pytest.mark.parametrize("build, reference", [c[1:] for c in MASK_CASES], ids=[c[0] for c in MASK_CASES])
def test_masks_on_zero_size_inputs(build, reference):
    x, m, r = matrix("x"), th.tensor("m", "bool", (None, None)), th.tensor("r", "bool", (None,))
    f = native([x, m, r], build(x, m, r))
    for shape in ((0, 5), (4, 0)):
        value, m_value = np.zeros(shape), np.zeros(shape, dtype=bool)
        r_value = np.zeros(shape[1], dtype=bool)
        try:
            expected = reference(value, m_value, r_value)
        except IndexError:  # a row or column of an empty axis
            with pytest.raises(IndexError, match="out of bounds"):
                f(value, m_value, r_value)
            continue
        assert_identical(f(value, m_value, r_value), expected)


def test_mask_gradient_is_native():
    x, m = matrix("x"), th.tensor("m", "bool", (None, None))
    gradient = th.grad(th.sum(x[m] ** 2), x)
    value = RNG.standard_normal((6, 3))
    mask = value > 0.3
    assert_identical(native([x, m], gradient)(value, mask), np.where(mask, 2 * value, 0.0))


def test_large_masks_agree_across_threads():
    x, m = matrix("x"), th.tensor("m", "bool", (None, None))
    value = RNG.standard_normal((50000, 4))
    mask = value > 0.5
    for threads in (1, 2):
        with th.config.context(num_threads=threads):
            got = native([x, m], [x[m] * 3.0, th.inc_subtensor(x[m], 1.0)])(value, mask)
        assert_identical(got[0], value[mask] * 3.0)
        assert_identical(got[1], added_at(value, mask, 1.0))


@pytest.mark.parametrize("mask_shape", [(3, 5), (4, 6), (5, 5)])
def test_mask_of_the_wrong_shape_raises_numpys_index_error_at_the_users_line(mask_shape):
    x, m = matrix("x"), th.tensor("m", "bool", (None, None))
    gather_line = next_line()
    gather = x[m]
    update_line = next_line()
    update = th.inc_subtensor(x[m], 1.0)
    value, mask = np.ones((4, 5)), np.ones(mask_shape, dtype=bool)
    with pytest.raises(IndexError) as expected:
        value[mask]
    message = re.escape(str(expected.value))
    with pytest.raises(IndexError, match=rf"{message}.*{created_here(gather_line)}"):
        native([x, m], gather)(value, mask)
    with pytest.raises(IndexError, match=rf"{message}.*{created_here(update_line)}"):
        native([x, m], update)(value, mask)


def test_int_out_of_bounds_raises_even_when_the_gather_is_empty():
    x, i = matrix("x"), th.tensor("i", "int64", (None,))
    line = next_line()
    out = x[-1, i]
    f = native([x, i], [out, th.inc_subtensor(x[2, i], 1.0)])
    with pytest.raises(IndexError, match=rf"index -1 is out of bounds for axis 0 with size 0.*{created_here(line)}"):
        f(np.zeros((0, 5)), np.zeros(0, dtype="int64"))
    value = np.arange(15.0).reshape(3, 5)
    got = f(value, np.array([4, -5]))
    assert_identical(got[0], value[-1, [4, -5]])
    assert_identical(got[1], added_at(value, (2, np.array([4, -5])), 1.0))

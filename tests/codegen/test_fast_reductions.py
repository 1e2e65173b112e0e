"""Fast reduction forms of the LLVM printer (codegen/llvm/printer.py, ``_accumulate``): float32 sums
add float32 partial sums of blocks into a float64 total, as accurate as NumPy's pairwise sum at
every length around the block size; float maxima and minima use maxnum/minnum and track NaNs
apart, with NumPy's results for NaN and infinities."""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm.printer import SUM_BLOCK

R = np.random.default_rng(5)
LENGTHS = [1, 15, SUM_BLOCK - 1, SUM_BLOCK, SUM_BLOCK + 1, 3 * SUM_BLOCK + 7, 2_000_003]


def _within_output_rounding(got, values, axis=None):
    exact = values.astype(np.float64).sum(axis=axis)
    scale = np.abs(values).astype(np.float64).sum(axis=axis)
    np.testing.assert_array_less(np.abs(np.asarray(got, np.float64) - exact), 2.5e-7 * scale + 1e-30)


@pytest.mark.parametrize("length", LENGTHS)
def test_whole_sum_of_a_vector(length):
    x = th.vector("x", dtype="float32")
    values = (R.random(length) + 0.5).astype("float32")
    _within_output_rounding(th.function([x], x.sum(), backend="llvm")(values), values)


@pytest.mark.parametrize("length", LENGTHS[:-1])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_sums_and_means_with_cancellation(length, threads):
    m = th.matrix("m", dtype="float32")
    values = R.standard_normal((37, length)).astype("float32")
    with th.config.context(num_threads=threads):
        f = th.function([m], [m.sum(axis=1), (m * m).sum(axis=1), m.mean(axis=1)], backend="llvm")
    sums, squares, means = f(values)
    _within_output_rounding(sums, values, axis=1)
    _within_output_rounding(squares, values * values, axis=1)
    np.testing.assert_allclose(means, values.astype(np.float64).mean(axis=1),
                               atol=2.5e-7 * np.abs(values).mean(axis=1).max())


def test_sum_over_two_axes_and_of_an_expression():
    t = th.tensor3("t", dtype="float32")
    values = R.standard_normal((5, 3, SUM_BLOCK + 5)).astype("float32")
    f = th.function([t], [t.sum(axis=(1, 2)), th.exp(t).sum(axis=2)], backend="llvm")
    both, exps = f(values)
    _within_output_rounding(both, values.reshape(5, -1), axis=1)
    _within_output_rounding(exps, np.exp(values.astype(np.float64)), axis=2)


def test_float64_and_product_reductions_are_unchanged():
    m64, m32 = th.matrix("a", dtype="float64"), th.matrix("b", dtype="float32")
    a = R.standard_normal((4, 3000))
    b = (R.random((4, 300)) * 0.02 + 0.99).astype("float32")
    f = th.function([m64, m32], [m64.sum(axis=1), m32.prod(axis=1)], backend="llvm")
    sums, products = f(a, b)
    np.testing.assert_allclose(sums, a.sum(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(products, b.astype(np.float64).prod(axis=1), rtol=2e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_extremes_propagate_nan_and_keep_infinities(dtype, threads):
    m = th.matrix("m", dtype=dtype)
    values = R.standard_normal((6, 3 * SUM_BLOCK + 5)).astype(dtype)
    values[1, 17] = np.nan
    values[2, -1] = np.nan
    values[3, 0] = np.inf
    values[4, :] = -np.inf
    values[5, 100] = -np.inf
    with th.config.context(num_threads=threads):
        f = th.function([m], [m.max(axis=1), m.min(axis=1), m.max(), m[2:4].min()], backend="llvm")
    highest, lowest, overall, part = f(values)
    np.testing.assert_array_equal(highest, values.max(axis=1))
    np.testing.assert_array_equal(lowest, values.min(axis=1))
    assert np.isnan(overall) and np.isnan(part)
    clean = values[[0, 3, 4, 5]]
    np.testing.assert_array_equal(th.function([m], m.max(), backend="llvm")(clean), clean.max())

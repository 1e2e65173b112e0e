"""Segments split across threads give the single-thread results, and fail cleanly."""

import numpy as np
import pytest

import theanine as th
from theanine.runtime.llvm.backend import PARALLEL_MIN_ELEMENTS

ROWS = 4 * PARALLEL_MIN_ELEMENTS // 64


def _compile(threads, inputs, outputs):
    with th.config.context(num_threads=threads):
        return th.function(inputs, outputs, backend="llvm")


def test_large_kernels_agree_across_thread_counts():
    x = th.matrix("x", dtype="float64")
    v = th.vector("v", dtype="float64")
    outputs = [th.exp(x) * 2 + v, (x**2).sum(axis=1), th.softmax(x), x.max(axis=1), x.sum(axis=0), x.sum()]
    value = np.random.default_rng(0).standard_normal((ROWS, 64))
    row = np.random.default_rng(1).standard_normal(64)
    single = _compile(1, [x, v], outputs)(value, row)
    multi = _compile(2, [x, v], outputs)(value, row)
    for a, b in zip(single, multi, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(multi[1], (value**2).sum(axis=1), rtol=1e-12)


def test_small_calls_and_repeated_calls_with_threads():
    x = th.vector("x", dtype="float64")
    f = _compile(2, [x], th.tanh(x) + 1)
    for size in (3, 10 * PARALLEL_MIN_ELEMENTS, 5, 10 * PARALLEL_MIN_ELEMENTS + 1):
        value = np.linspace(-2, 2, size)
        np.testing.assert_allclose(f(value), np.tanh(value) + 1, rtol=1e-14)


def test_failing_check_on_all_threads_raises_without_hanging():
    x = th.matrix("x", dtype="float64")
    y = th.matrix("y", dtype="float64")
    f = _compile(2, [x, y], x + y)
    big = np.ones((ROWS, 64))
    with pytest.raises(ValueError, match="Elemwise"):
        f(big, np.ones((ROWS, 63)))
    np.testing.assert_array_equal(f(big, big), 2 * big)


def test_num_threads_setting_is_validated():
    with pytest.raises(ValueError, match="num_threads must be an int >= 0"):
        th.config.num_threads = -1

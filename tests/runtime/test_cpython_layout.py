"""The binary-layout facts native code relies on, and the portable path when one does not hold."""

import logging

import numpy as np
import pytest

import theanine as th
from theanine.runtime.cpython import layout


@pytest.fixture
def fresh_layout_checks():
    """Forget the memoized verdicts before and after the test (monkeypatched facts are undone after it)."""
    layout.mismatch.cache_clear()
    layout.tuple_is_buffer_table.cache_clear()
    yield
    layout.mismatch.cache_clear()
    layout.tuple_is_buffer_table.cache_clear()


def test_every_fact_holds_on_this_interpreter(fresh_layout_checks):
    assert layout.mismatch() is None
    assert layout.tuple_is_buffer_table()


@pytest.mark.parametrize("fact, value, reason", [
    ("TUPLE_ITEMS", 32, "tuple items"),
    ("OBJECT_TYPE", 16, "object type"),
    ("NUMPY_ABI_VERSION", 0x01000009, "NumPy C ABI version"),
])
def test_a_wrong_fact_is_named(fresh_layout_checks, monkeypatch, fact, value, reason):
    monkeypatch.setattr(layout, fact, value)
    assert layout.mismatch() == reason


def test_a_mismatch_takes_the_portable_path_once_and_computes_the_same(fresh_layout_checks, monkeypatch, caplog):
    monkeypatch.setattr(layout, "TUPLE_ITEMS", 32)
    x, y = th.matrix("x"), th.matrix("y")
    W = th.shared(np.ones((3, 3), "float32"), name="W")
    with caplog.at_level(logging.WARNING, logger=layout.__name__):
        small = th.function([x, y], th.exp(x) * y + 0.25)
        big = th.function([x], (x @ W).sum(axis=1), updates=[(W, W + 1)])
    assert small._fast is None
    a = np.random.default_rng(0).standard_normal((7, 5)).astype("float32")
    b = np.random.default_rng(1).standard_normal((7, 5)).astype("float32")
    np.testing.assert_allclose(small(a, b), np.exp(a) * b + 0.25, rtol=1e-6)
    rows = np.arange(300000 * 3, dtype="float32").reshape(300000, 3) / 1e5
    np.testing.assert_allclose(big(rows), (rows @ np.ones((3, 3), "float32")).sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(W.get_value(), np.full((3, 3), 2, "float32"))
    warnings = [r for r in caplog.records if "portable call path" in r.getMessage()]
    assert len(warnings) == 1 and "tuple items" in warnings[0].getMessage()

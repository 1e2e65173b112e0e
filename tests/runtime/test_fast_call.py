"""The native fast call path: same results and errors as the Python path, no leaks."""

import sys

import numpy as np
import pytest

import theanine as th


def _pair():
    return th.vector("x"), th.vector("y")


def test_small_functions_take_the_fast_path_and_agree():
    x, y = _pair()
    f = th.function([x, y], th.exp(x) * 2 + y)
    assert f._fast is not None
    a, b = np.linspace(-1, 1, 7).astype("float32"), np.ones(7, "float32")
    np.testing.assert_allclose(f(a, b), np.exp(a) * 2 + b, rtol=1e-6)
    np.testing.assert_allclose(f._call_python(a, b), f(a, b))


def test_output_forms_match_the_declaration():
    x, y = _pair()
    a, b = np.ones(3, "float32"), np.full(3, 2.0, "float32")
    single = th.function([x, y], x + y)(a, b)
    listed = th.function([x, y], [x + y])(a, b)
    several = th.function([x, y], [x + y, (x * y).sum(), x - 1.5])(a, b)
    assert isinstance(single, np.ndarray) and isinstance(listed, list) and len(listed) == 1
    np.testing.assert_array_equal(several[0], a + b)
    assert several[1] == 6.0 and several[1].shape == ()
    np.testing.assert_array_equal(several[2], a - 1.5)


def test_other_arguments_fall_back_to_the_python_path():
    x, y = _pair()
    f = th.function([x, y], x + y, name="add")
    np.testing.assert_array_equal(f([1.0, 2.0], np.ones(2, "float32")), [2.0, 3.0])
    np.testing.assert_array_equal(f(x=np.ones(2, "float32"), y=np.ones(2, "float32")), [2.0, 2.0])
    with pytest.raises(TypeError, match=r"input 0 \(x\) of add: expected dtype float32, got float64"):
        f(np.ones(2), np.ones(2, "float32"))
    with pytest.raises(TypeError, match=r"add is missing input\(s\) \['y'\]"):
        f(np.ones(2, "float32"))
    with pytest.raises(ValueError, match=r"Elemwise\{add\}.*test_fast_call.py"):
        f(np.ones(2, "float32"), np.ones(3, "float32"))


def test_static_dims_and_large_inputs():
    x = th.tensor("x", shape=(None, 3))
    f = th.function([x], x * 2)
    with pytest.raises(ValueError, match=r"expected shape \(\?, 3\), got \(2, 4\)"):
        f(np.ones((2, 4), "float32"))
    big = np.ones((200_000, 3), "float32")
    np.testing.assert_array_equal(f(big), 2 * big)
    np.testing.assert_array_equal(f(np.ones((0, 3), "float32")), np.ones((0, 3)))


def test_no_reference_leaks():
    x, y = _pair()
    f = th.function([x, y], [x + y, x * y])
    a, b = np.ones(4, "float32"), np.ones(4, "float32")
    f(a, b)
    before = (sys.getrefcount(a), sys.getrefcount(b))
    for _ in range(1000):
        out = f(a, b)
    after = (sys.getrefcount(a), sys.getrefcount(b))
    first = out[0]
    held = sys.getrefcount(first)  # the list, ``first`` and getrefcount's argument
    assert after == before
    assert held == 3


def test_functions_with_state_keep_the_python_path():
    x = th.vector("x")
    s = th.shared(np.zeros(3, "float32"))
    f = th.function([x], x + s, updates=[(s, s + 1)])
    assert f._fast is None
    f(np.ones(3, "float32"))
    np.testing.assert_array_equal(s.get_value(), np.ones(3))

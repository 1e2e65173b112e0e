"""Checks shared by the ``tests/frontend/test_keras_ops_*.py`` tables.

``check(op, args, expected)`` runs a ``keras.ops`` function twice: eagerly on
the NumPy arrays in ``args`` (it must return NumPy values) and symbolically,
each array becoming a graph input of the same dtype and static shape, compiled
by ``th.function`` with the default (LLVM) backend; both results are compared
with ``expected`` (an array, or a nest of lists and tuples of arrays).  Only
arrays are made inputs; Python numbers and other arguments stay constants.
"""

from __future__ import annotations

import numpy as np

import theanine as th


def _leaves(value) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    return [value]


def assert_close(actual, expected, rtol: float, atol: float) -> None:
    actual_leaves, expected_leaves = _leaves(actual), _leaves(expected)
    assert len(actual_leaves) == len(expected_leaves), (actual, expected)
    for a, e in zip(actual_leaves, expected_leaves, strict=True):
        if e is None:
            assert a is None, a
            continue
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)


def _symbolic(args):
    inputs = []

    def replace(value):
        if isinstance(value, np.ndarray):
            var = th.TensorType(value.dtype.name, value.shape)(f"in{len(inputs)}")
            inputs.append((var, value))
            return var
        if isinstance(value, list):
            return [replace(v) for v in value]
        if isinstance(value, tuple):
            return tuple(replace(v) for v in value)
        return value

    return replace(list(args)), inputs


def check(op, args, expected, rtol: float = 1e-5, atol: float = 1e-6, compiled: bool = True) -> None:
    """``op(*args)`` equals ``expected`` eagerly and compiled (see the module docstring)."""
    eager = op(*args)
    for leaf in _leaves(eager):
        assert leaf is None or isinstance(leaf, (np.ndarray, np.generic, bool, int, float)), type(leaf)
    assert_close(eager, expected, rtol, atol)
    if not compiled:
        return
    symbolic_args, inputs = _symbolic(args)
    result = op(*symbolic_args)
    outputs = [leaf for leaf in _leaves(result) if leaf is not None]
    function = th.function([var for var, _ in inputs], outputs)
    values = function(*[value for _, value in inputs])
    assert_close(values, [e for e in _leaves(expected) if e is not None], rtol, atol)

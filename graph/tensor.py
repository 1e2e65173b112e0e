"""Making tensor variables: symbolic inputs, constants and conversions.

Casting a variable and stacking a list that holds variables use ops that come
later in the load order; they are reached through the ``graph`` package when
called (see graph/__init__.py).
"""

from __future__ import annotations

import numbers

import numpy as np

from theanine import graph
from theanine.graph.basic import Constant, TensorVariable, Variable
from theanine.graph.config import config
from theanine.graph.type import TensorType, is_string, normalize_dtype, string_array

__all__ = [
    "TensorType", "TensorVariable", "Constant", "tensor", "scalar", "vector", "matrix",
    "tensor3", "tensor4", "as_tensor", "as_tensor_variable", "constant",
]


def tensor(name: str | None = None, dtype=None, shape=None, ndim: int | None = None) -> TensorVariable:
    """A symbolic input: ``th.tensor("t", dtype="float64", shape=(None, 3))``.

    ``dtype`` defaults to ``config.floatX``; give ``shape`` (ints or None)
    or only ``ndim`` for a shape of all None.
    """
    if shape is None:
        if ndim is None:
            raise TypeError("th.tensor needs shape=(...) or ndim=...")
        shape = (None,) * ndim
    elif ndim is not None and ndim != len(shape):
        raise ValueError(f"th.tensor: ndim={ndim} disagrees with shape={shape}")
    return TensorType(dtype or config.floatX, shape)(name)


def scalar(name: str | None = None, dtype=None) -> TensorVariable:
    return tensor(name, dtype, ())


def vector(name: str | None = None, dtype=None, shape=(None,)) -> TensorVariable:
    return tensor(name, dtype, shape)


def matrix(name: str | None = None, dtype=None, shape=(None, None)) -> TensorVariable:
    return tensor(name, dtype, shape)


def tensor3(name: str | None = None, dtype=None) -> TensorVariable:
    return tensor(name, dtype, (None,) * 3)


def tensor4(name: str | None = None, dtype=None) -> TensorVariable:
    return tensor(name, dtype, (None,) * 4)


def _holds_strings(array: np.ndarray) -> bool:
    return array.dtype.kind == "U" or (array.dtype.kind == "O" and all(isinstance(v, str) for v in array.flat))


def constant(value, dtype=None, name: str | None = None) -> Constant:
    """A constant of an explicit dtype (default: the value's own); strings make a string constant."""
    if is_string(normalize_dtype(dtype)) if dtype is not None else _holds_strings(np.asarray(value)):
        return Constant(string_array(value, "a string constant"), name=name)
    data = np.asarray(value, dtype=dtype)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"a constant must hold numbers or bools. Received dtype {data.dtype}")
    return Constant(data, name=name)


def as_tensor_variable(value, name: str | None = None, dtype=None) -> TensorVariable:
    """Return ``value`` as a tensor variable.

    Variables pass through (cast when ``dtype`` is given); NumPy arrays keep
    their dtype; a lone Python float becomes ``config.floatX`` and a lone
    Python int int64, as in Theano.  Binary operators treat Python numbers
    as NumPy 2 does instead (see ``elemwise.py``).
    """
    if isinstance(value, Variable):
        if dtype is not None and value.dtype != normalize_dtype(dtype):
            return graph.ops.math.cast(value, dtype)
        return value
    if dtype is None:
        dtype = python_scalar_dtype(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Variable) for v in _flatten(value)):
        return graph.ops.join.stack([as_tensor_variable(v, dtype=dtype) for v in value])
    return constant(value, dtype=dtype, name=name)


as_tensor = as_tensor_variable


def python_scalar_dtype(value) -> str | None:
    """floatX for a Python float, int64 for a Python int, None otherwise."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
        return "int64"
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        return config.floatX
    return None


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item

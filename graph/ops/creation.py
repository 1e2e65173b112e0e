"""Creation ops: tensors filled with values, ranges, identity matrices, one-hot."""

from __future__ import annotations

from theanine.graph.ops.math import cast, second
from theanine.graph.tensor import as_tensor_variable

__all__ = ["zeros_like", "ones_like", "full_like"]


def full_like(x, fill_value, dtype=None):
    """A tensor of ``x``'s shape filled with ``fill_value``."""
    x = as_tensor_variable(x)
    value = as_tensor_variable(fill_value, dtype=dtype or x.dtype)
    return cast(second(x, value), dtype or x.dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)

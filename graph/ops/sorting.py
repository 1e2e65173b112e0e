"""Sorting: the ``ArgSort`` op; ``sort`` and ``top_k`` are built on it (``numpy_like``).

``ArgSort(axis, descending)`` is the one elementary op: the positions that
sort ``x`` along ``axis``, stably (equal values keep their order), which is
``np.argsort(x, axis, kind="stable")``.  Descending order keeps equal values
in their original order too (the first of two equal maxima comes first, as
``top_k`` returns them); it is not the reverse of the ascending order.  The
output is int64 of the input's shape and carries no gradient; the values
(``sort``) are gathered with indexing, whose gradient scatters back.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import NonDifferentiableOp
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["ArgSort", "argsort"]


class ArgSort(NonDifferentiableOp):
    """Stable argsort along ``axis`` (non-negative, checked against the input's rank)."""

    __props__ = ("axis", "descending")

    def __init__(self, axis: int, descending: bool = False):
        self.axis = int(axis)
        self.descending = bool(descending)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.axis < max(x.ndim, 1) or x.ndim == 0:
            raise ValueError(
                f"argsort: axis {self.axis} is out of bounds for a tensor of rank {x.ndim}"
            )
        if x.dtype.startswith("complex"):
            raise TypeError(f"argsort is defined for real tensors. Received dtype {x.dtype}")
        return Apply(self, [x], [TensorType("int64", x.type.shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        if not self.descending:
            return [np.argsort(x, axis=self.axis, kind="stable").astype("int64")]
        # stable descending: sort the reversed axis ascending, reverse, map positions back
        flipped = np.flip(x, axis=self.axis)
        order = np.flip(np.argsort(flipped, axis=self.axis, kind="stable"), axis=self.axis)
        return [(x.shape[self.axis] - 1 - order).astype("int64")]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def argsort(x, axis: int = -1, descending: bool = False):
    """The indices that sort ``x`` along ``axis`` (stably; NumPy's ``argsort``)."""
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise ValueError("argsort needs a tensor of rank >= 1. Received a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"argsort: axis {axis} is out of bounds for a tensor of rank {x.ndim}")
    return ArgSort(axis % x.ndim, descending)(x)

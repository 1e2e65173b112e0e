"""Ops whose output size depends on the input values: ``BinCount``, ``NonZero`` and ``Unique``.

Their lengths are unknown until run time (static shape None), so they are
NumPy ``perform`` ops that every backend runs as host calls.  ``BinCount``
is NumPy's ``bincount`` for a 1-D input and, as Keras' ``ops.bincount``, a
row-wise bincount for a 2-D one (every row counted into the same number of
bins, ``max(minlength, x.max() + 1)``); the gradient with respect to the
weights gathers the output gradient at each input's bin.  ``NonZero`` is
``np.nonzero``: one int64 index vector per input axis.  ``Unique`` is
``np.unique`` with the first-occurrence indices, the inverse and the counts
(ONNX's Unique), sorted or in order of first occurrence; the unique values'
gradient flows to those first occurrences.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.creation import zeros_like
from theanine.graph.ops.numpy_like import take_along_axis
from theanine.graph.ops.subtensor import inc_subtensor
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, is_discrete

__all__ = ["BinCount", "NonZero", "Unique", "bincount", "nonzero", "unique"]


class BinCount(Op):
    """Counts (or summed weights) of each non-negative integer in ``x``, per row for a matrix."""

    __props__ = ("minlength",)

    def __init__(self, minlength: int = 0):
        self.minlength = int(minlength)

    def make_node(self, x, weights=None) -> Apply:
        x = as_tensor_variable(x)
        if not is_discrete(x.dtype) or x.dtype == "bool" or x.ndim not in (1, 2):
            raise TypeError(f"bincount: x must be a 1-D or 2-D integer tensor. Received: {x.type}")
        inputs = [x]
        dtype = "int64"
        if weights is not None:
            weights = as_tensor_variable(weights)
            if weights.ndim != x.ndim:
                raise ValueError(f"bincount: weights {weights.type} must have the shape of x {x.type}")
            inputs.append(weights)
            dtype = np.result_type(weights.dtype, np.float64 if is_discrete(weights.dtype) else weights.dtype).name
        shape = (None,) if x.ndim == 1 else (x.type.shape[0], None)
        return Apply(self, inputs, [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        x = inputs[0]
        weights = inputs[1] if len(inputs) > 1 else None
        if x.size and x.min() < 0:
            raise ValueError(f"bincount: x must be non-negative. Received a minimum of {x.min()}")
        dtype = node.outputs[0].dtype
        if x.ndim == 1:
            return [np.bincount(x, weights, minlength=self.minlength).astype(dtype)]
        length = max(self.minlength, int(x.max()) + 1 if x.size else 0)
        rows = [np.bincount(row, None if weights is None else weights[i], minlength=length)
                for i, row in enumerate(x)]
        return [np.asarray(rows, dtype=dtype).reshape(len(x), length)]

    def connection_pattern(self, node):
        return [[False]] + [[True]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if len(inputs) == 1:
            return [None]
        x = inputs[0]
        if x.ndim == 1:
            return [None, g[x]]
        return [None, take_along_axis(g, x, axis=1)]


class NonZero(Op):
    """``np.nonzero(x)``: one int64 vector of indices per axis of ``x``."""

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim == 0:
            raise ValueError("nonzero: x must have at least one dimension (NumPy 2 rejects scalars)")
        return Apply(self, [x], [TensorType("int64", (None,)) for _ in range(x.ndim)])

    def perform(self, node, inputs):
        return [index.astype("int64") for index in np.nonzero(inputs[0])]

    def connection_pattern(self, node):
        return [[False] * len(node.outputs)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class Unique(Op):
    """The distinct values of ``x`` (or its distinct slices along ``axis``), the index of each one's
    first occurrence, the inverse (which value each element/slice is) and the counts, all int64
    but the values; ``sorted=False`` orders them by first occurrence."""

    __props__ = ("axis", "sorted")

    def __init__(self, axis: int | None = None, sorted: bool = True):  # noqa: A002 - NumPy's/ONNX's name
        self.axis, self.sorted = axis, bool(sorted)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if self.axis is not None and not 0 <= self.axis < x.ndim:
            raise ValueError(f"unique: axis {self.axis} is out of range for {x.type}")
        shape = (None,) if self.axis is None else tuple(None if a == self.axis else n
                                                         for a, n in enumerate(x.type.shape))
        index = TensorType("int64", (None,))
        return Apply(self, [x], [TensorType(x.dtype, shape), index, index, index])

    def perform(self, node, inputs):
        values, first, inverse, counts = np.unique(inputs[0], return_index=True, return_inverse=True,
                                                   return_counts=True, axis=self.axis)
        inverse = inverse.reshape(-1)
        if not self.sorted:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            values = np.take(values, order, axis=0 if self.axis is None else self.axis)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        return [values, *(a.astype("int64") for a in (first, inverse, counts))]

    def connection_pattern(self, node):
        return [[True, False, False, False]]

    def L_op(self, inputs, outputs, output_grads):
        (x,), g = inputs, output_grads[0]
        if self.axis is None:
            return [inc_subtensor(zeros_like(x).flatten()[outputs[1]], g).reshape(x.shape)]
        index = (slice(None),) * self.axis + (outputs[1],)
        return [inc_subtensor(zeros_like(x)[index], g)]


def unique(x, axis: int | None = None, sorted: bool = True) -> tuple:  # noqa: A002
    """``(values, first_indices, inverse, counts)`` of ``x``'s distinct values (``np.unique``)."""
    return tuple(Unique(axis, sorted).apply(x).outputs)


def bincount(x, weights=None, minlength: int = 0):
    """NumPy's ``bincount`` (row-wise for a 2-D ``x``, as Keras' ``ops.bincount``)."""
    if int(minlength) < 0:
        raise ValueError(f"bincount: minlength must be >= 0. Received: minlength={minlength}")
    op = BinCount(minlength)
    return op(x) if weights is None else op(x, weights)


def nonzero(x) -> tuple:
    """The indices of the non-zero entries of ``x``, one vector per axis (``np.nonzero``)."""
    return tuple(NonZero().apply(x).outputs)

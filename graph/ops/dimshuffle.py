"""DimShuffle: reorder axes, insert broadcastable axes and drop static-1 axes.

``transpose``, ``expand_dims`` and ``pad_rank`` (NumPy's alignment of ranks,
which Elemwise and Gemm apply to their operands) are DimShuffles;
``normalize_axis`` is the axis check every shape function shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape


class DimShuffle(Op):
    """Reorder axes, insert broadcastable axes ("x") and drop static-1 axes.

    ``pattern`` lists, for each output axis, an input axis or "x"; input
    axes missing from it are dropped and must have static size 1.
    """

    __props__ = ("pattern",)
    takes_strings = True  # moves or selects elements
    view_map = {0: [0]}

    def __init__(self, pattern: Sequence):
        self.pattern = tuple("x" if p == "x" else int(p) for p in pattern)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        axes = [p for p in self.pattern if p != "x"]
        if len(set(axes)) != len(axes) or any(a < 0 or a >= x.ndim for a in axes):
            raise ValueError(
                f"DimShuffle pattern {self.pattern} is invalid for an input of rank {x.ndim}"
            )
        dropped = [a for a in range(x.ndim) if a not in axes]
        for axis in dropped:
            if x.type.shape[axis] != 1:
                raise ValueError(
                    f"DimShuffle{self.pattern} drops axis {axis} of an input of shape "
                    f"{format_shape(x.type.shape)}, but only axes of static size 1 can be dropped"
                )
        shape = tuple(1 if p == "x" else x.type.shape[p] for p in self.pattern)
        return Apply(self, [x], [TensorType(x.dtype, shape)])

    def _kept_order(self) -> list[int]:
        return [p for p in self.pattern if p != "x"]

    def perform(self, node, inputs):
        (x,) = inputs
        kept = self._kept_order()
        dropped = tuple(a for a in range(x.ndim) if a not in kept)
        y = x.reshape([n for a, n in enumerate(x.shape) if a not in dropped]) if dropped else x
        rank = {a: i for i, a in enumerate(sorted(kept))}
        y = np.transpose(y, [rank[a] for a in kept])
        return [y.reshape([1 if p == "x" else x.shape[p] for p in self.pattern])]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        return [tuple(1 if p == "x" else shape[p] for p in self.pattern)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        kept = self._kept_order()
        new_axes = tuple(i for i, p in enumerate(self.pattern) if p == "x")
        if any(gz.type.shape[i] != 1 for i in new_axes):
            gz = ops.reduce.sum(gz, axis=new_axes, keepdims=True)
        squeezed = DimShuffle([i for i, p in enumerate(self.pattern) if p != "x"])(gz)
        inverse = [kept.index(a) if a in kept else "x" for a in range(x.ndim)]
        return [DimShuffle(inverse)(squeezed)]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


def dimshuffle(x, pattern: Sequence):
    """Theano's ``x.dimshuffle(pattern)``: see ``DimShuffle``."""
    return DimShuffle(pattern)(x)


def transpose(x, axes: Sequence[int] | None = None):
    """NumPy's transpose; ``axes=None`` reverses them."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of range({x.ndim})")
    return DimShuffle(axes)(x)


def expand_dims(x, axis):
    """Insert broadcastable axes at the positions ``axis`` (int or tuple)."""
    x = as_tensor_variable(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    positions = {normalize_axis(a, out_ndim, "expand_dims") for a in axes}
    if len(positions) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in axis={axis!r}")
    source = iter(range(x.ndim))
    return DimShuffle(["x" if i in positions else next(source) for i in range(out_ndim)])(x)


def pad_rank(var: Variable, ndim: int) -> Variable:
    """``var`` with leading broadcastable axes up to rank ``ndim`` (NumPy's alignment)."""
    if var.ndim == ndim:
        return var
    return DimShuffle(("x",) * (ndim - var.ndim) + tuple(range(var.ndim)))(var)


def normalize_axis(axis: int, ndim: int, what: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int. Received: axis={axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of bounds for a tensor of rank {ndim}")
    return int(axis) % ndim

"""Reductions over axes: sum, prod, max, min, all, any, and what builds on them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["Reduce", "sum", "normalize_axes"]


def normalize_axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    """``None`` -> all axes; ints -> sorted non-negative tuple; errors name ``what``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {a} is out of bounds for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axes}")
    return tuple(sorted(out))


class Reduce(Op):
    """Combine elements along ``axes`` with NumPy's reduction ``kind``.

    ``keepdims`` is not a parameter: the output drops the reduced axes and
    ``keepdims=True`` is a DimShuffle on top, so rewrites see one form.
    """

    __props__ = ("kind", "axes", "dtype")
    _impls = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "all": np.all, "any": np.any}

    def __init__(self, kind: str, axes: Sequence[int], dtype: str | None = None):
        if kind not in self._impls:
            raise ValueError(f"unknown reduction {kind!r}; expected one of {sorted(self._impls)}")
        self.kind = kind
        self.axes = tuple(axes)
        self.dtype = dtype

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if any(a >= x.ndim for a in self.axes):
            raise ValueError(f"{self}: axes {self.axes} out of range for rank {x.ndim}")
        if self.kind in ("max", "min"):
            for a in self.axes:
                if x.type.shape[a] == 0:
                    raise ValueError(f"{self.kind} of an empty axis {a} (shape {x.type.shape}) has no identity")
        dtype = self.dtype or self._output_dtype(x.dtype)
        shape = tuple(d for i, d in enumerate(x.type.shape) if i not in self.axes)
        return Apply(self, [x], [TensorType(dtype, shape)])

    def _output_dtype(self, dtype: str) -> str:
        return self._impls[self.kind](np.zeros((1,), dtype=dtype)).dtype.name

    def perform(self, node, inputs):
        (x,) = inputs
        out = self._impls[self.kind](x, axis=self.axes, dtype=self.dtype) if self.kind in ("sum", "prod") \
            else self._impls[self.kind](x, axis=self.axes)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [tuple(d for i, d in enumerate(input_shapes[0]) if i not in self.axes)]

    def L_op(self, inputs, outputs, output_grads):
        from theanine.graph.ops.reduce_grad import reduce_grad

        return reduce_grad(self, inputs, outputs, output_grads)

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        if self.kind == "sum":
            return [self(eval_points[0])]
        raise NotImplementedError(f"{self} has no R_op")


def _keepdims(out, x, axes):
    from theanine.graph.ops.shape import expand_dims

    return expand_dims(out, axes) if axes else out


def sum(x, axis=None, keepdims: bool = False, dtype=None):
    """NumPy's sum: ints accumulate in int64 (uint in uint64), bool counts."""
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "sum")
    out = Reduce("sum", axes, np.dtype(dtype).name if dtype else None)(x)
    return _keepdims(out, x, axes) if keepdims else out

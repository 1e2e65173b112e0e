"""Max pooling as ops: ``MaxPool`` and the pair that carries its derivatives.

``MaxPool(pool_size, strides, dilation)(x, pads)`` takes the maximum of each
window of a channels-last ``x`` (``(N, *S, C)``, any dtype); ``pads`` is the
padding vector of conv_geometry, and padding never wins (it is -inf, or the
integer minimum).

Its gradient sends each window's output gradient to the position of the
window's maximum (the first one in C order on ties, NaN counting as the
maximum, as ``np.argmax``): ``MaxPoolGrad(x, pads, g)``.  That map is
linear in ``g`` and piecewise constant in ``x``; its transpose reads a
tensor at the positions of the maxima: ``MaxPoolGather(x, pads, v)``,
which is also max pooling's forward derivative.  Each of the two is the
other's gradient, so derivatives of every order stay in these ops.

Average pooling needs no op of its own: it is a convolution with a kernel
of ones (pool_functions.py).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops import conv_numpy
from theanine.graph.ops.conv_geometry import (
    check_windows,
    describe,
    int_tuple,
    output_length,
    pad_pairs,
    where_built,
)
from theanine.graph.ops.creation import zeros_like
from theanine.graph.ops.shape_values import checked_shape_vector, static_entries
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_float

__all__ = ["MaxPool", "MaxPoolGrad", "MaxPoolGather"]


class _PoolOp(Op):
    """Shared parameters, checks and output sizes of the max-pooling ops."""

    __props__ = ("pool_size", "strides", "dilation")

    def __init__(self, pool_size, strides, dilation):
        self.rank = len(pool_size)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.dilation = int_tuple(dilation, self.rank, "dilation")

    def _checked(self, x, pads):
        x = as_tensor_variable(x)
        if x.ndim != self.rank + 2:
            raise ValueError(
                f"{self}: pooling over {self.rank} spatial axes takes inputs of rank {self.rank + 2} "
                f"(batch, *spatial, channels). Received: input of shape {describe(x)}{where_built()}"
            )
        pads = checked_shape_vector(pads, f"{self} padding")
        if pads.type.shape[0] != 2 * self.rank:
            raise ValueError(f"{self}: expected a padding vector of length {2 * self.rank}. Received: {pads.type}")
        return x, pads

    def _output_shape(self, x, pads) -> tuple:
        entries = static_entries(pads)
        pairs = list(zip(entries[0::2], entries[1::2], strict=True))
        shapes = f"input of shape {describe(x)}, pool_size={self.pool_size}"
        check_windows(str(self), x.type.shape[1:-1], pairs, self.pool_size, self.dilation, shapes)
        outputs = (
            None if None in (n, lo, hi) else output_length(n, lo, hi, k, s, d)
            for n, (lo, hi), k, s, d in zip(x.type.shape[1:-1], pairs, *self._window_args(), strict=True)
        )
        return (x.type.shape[0], *outputs, x.type.shape[-1])

    def _pairs(self, x: np.ndarray, pads: np.ndarray) -> list[tuple[int, int]]:
        pairs = [(int(lo), int(hi)) for lo, hi in np.asarray(pads).reshape(-1, 2)]
        shapes = f"input of shape {x.shape}, pool_size={self.pool_size}"
        check_windows(str(self), [int(n) for n in x.shape[1:-1]], pairs, self.pool_size, self.dilation, shapes)
        return pairs

    def _pooled_shape(self, x_shape, pads_var) -> tuple:
        outputs = [
            output_length(n, lo, hi, k, s, d)
            for n, (lo, hi), k, s, d in zip(x_shape[1:-1], pad_pairs(pads_var), self.pool_size, self.strides,
                                             self.dilation, strict=True)
        ]
        return (x_shape[0], *outputs, x_shape[-1])

    def _window_args(self):
        return self.pool_size, self.strides, self.dilation


class MaxPool(_PoolOp):
    """The maximum of each window (see the module docstring)."""

    def make_node(self, x, pads) -> Apply:
        x, pads = self._checked(x, pads)
        return Apply(self, [x, pads], [TensorType(x.dtype, self._output_shape(x, pads))])

    def perform(self, node, inputs):
        x, pads = inputs
        pool, strides, dilation = self._window_args()
        return [conv_numpy.max_pool(x, pool, self._pairs(x, pads), strides, dilation)]

    def infer_shape(self, node, input_shapes):
        return [self._pooled_shape(input_shapes[0], node.inputs[1])]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, pads = inputs
        return [MaxPoolGrad(*self._window_args())(x, pads, output_grads[0]), None]

    def R_op(self, inputs, eval_points):
        x, pads = inputs
        v = eval_points[0]
        return [None if v is None else MaxPoolGather(*self._window_args())(x, pads, v)]


class _MaxPoolLinear(_PoolOp):
    """Shared rules of the two maps that are linear in their last input and constant in ``x``."""

    def _checked_linear(self, x, value, expected_shape):
        value = as_tensor_variable(value)
        if not is_float(value.dtype) or value.ndim != x.ndim:
            raise TypeError(
                f"{self}: expected a float tensor of rank {x.ndim}. Received: {value.type}{where_built()}"
            )
        if not TensorType(value.dtype, expected_shape).shape_compatible(value.type):
            raise ValueError(
                f"{self}: expected a tensor of shape {format_shape(expected_shape)}. Received: "
                f"{format_shape(value.type.shape)} for an input of shape {describe(x)}{where_built()}"
            )
        return value

    def connection_pattern(self, node):
        return [[True], [False], [True]]

    def L_op(self, inputs, outputs, output_grads):
        x, pads, _ = inputs
        return [zeros_like(x), None, self.transpose_op()(x, pads, output_grads[0])]

    def R_op(self, inputs, eval_points):
        x, pads, _ = inputs
        v = eval_points[2]
        return [None if v is None else self(x, pads, v)]

    def transpose_op(self) -> Op:
        raise NotImplementedError


class MaxPoolGrad(_MaxPoolLinear):
    """``g`` (one entry per window) added at the position of each window's maximum in ``x``."""

    def make_node(self, x, pads, g) -> Apply:
        x, pads = self._checked(x, pads)
        g = self._checked_linear(x, g, self._output_shape(x, pads))
        return Apply(self, [x, pads, g], [TensorType(g.dtype, x.type.shape)])

    def perform(self, node, inputs):
        x, pads, g = inputs
        pool, strides, dilation = self._window_args()
        return [conv_numpy.scatter_to_argmax(x, g, pool, self._pairs(x, pads), strides, dilation)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def transpose_op(self) -> Op:
        return MaxPoolGather(*self._window_args())


class MaxPoolGather(_MaxPoolLinear):
    """``v`` (shaped like ``x``) read at the position of each window's maximum in ``x``."""

    def make_node(self, x, pads, v) -> Apply:
        x, pads = self._checked(x, pads)
        v = self._checked_linear(x, v, x.type.shape)
        return Apply(self, [x, pads, v], [TensorType(v.dtype, self._output_shape(x, pads))])

    def perform(self, node, inputs):
        x, pads, v = inputs
        pool, strides, dilation = self._window_args()
        return [conv_numpy.gather_at_argmax(x, v, pool, self._pairs(x, pads), strides, dilation)]

    def infer_shape(self, node, input_shapes):
        return [self._pooled_shape(input_shapes[0], node.inputs[1])]

    def transpose_op(self) -> Op:
        return MaxPoolGrad(*self._window_args())

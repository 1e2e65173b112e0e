"""``BitCast``: a tensor's bytes read as another dtype of the same width (NumPy's ``view``).

The values are the same bits reinterpreted (float32 1.0 is int32 1065353216),
so the op has no gradient.  No printer emits it yet: every compiled backend
runs it as a host call (a copy through NumPy's ``view``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["BitCast", "bitcast"]


class BitCast(Op):
    """``x.view(dtype)`` for a ``dtype`` as wide as ``x``'s: the shape is unchanged."""

    __props__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = np.dtype(dtype).name

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if np.dtype(x.dtype).itemsize != np.dtype(self.dtype).itemsize:
            raise TypeError(f"bitcast: {x.dtype} ({np.dtype(x.dtype).itemsize} bytes) cannot be read as "
                            f"{self.dtype} ({np.dtype(self.dtype).itemsize} bytes); the widths must match")
        return Apply(self, [x], [TensorType(self.dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [np.array(inputs[0], order="C").view(self.dtype)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def bitcast(x, dtype: str):
    """``x``'s bits read as ``dtype`` (of the same width), element by element."""
    return BitCast(dtype)(x)

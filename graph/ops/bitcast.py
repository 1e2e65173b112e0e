"""``BitcastView``: the same bytes read as another dtype (NumPy's ``ndarray.view(dtype)``).

Equal item sizes keep the shape; otherwise the last axis is rescaled by the
ratio of the item sizes (and must divide evenly), as NumPy does for a
C-contiguous array.  The bits are reinterpreted, not converted, so the
output carries no gradient.  ``bitcast`` is ONNX's BitCast: equal widths
only, element by element.  No printer emits the op: compiled backends run
it as a host call (a copy through NumPy's ``view``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import NonDifferentiableOp
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["BitcastView", "bitcast", "bitcast_view"]


class BitcastView(NonDifferentiableOp):
    """Reinterpret the input's bytes as ``dtype``."""

    __props__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = np.dtype(dtype).name

    def _scaled(self, size, source: str):
        """The last axis's size in the new dtype (None stays None)."""
        old, new = np.dtype(source).itemsize, np.dtype(self.dtype).itemsize
        if size is None or old == new:
            return size
        if (size * old) % new:
            raise ValueError(f"view: a last axis of {size} {source} values ({size * old} bytes) does not split "
                             f"into {self.dtype} values of {new} bytes")
        return size * old // new

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim == 0 and np.dtype(x.dtype).itemsize != np.dtype(self.dtype).itemsize:
            raise ValueError(f"view: a scalar {x.dtype} cannot be viewed as {self.dtype} (the item sizes differ)")
        shape = x.type.shape if x.ndim == 0 else (*x.type.shape[:-1], self._scaled(x.type.shape[-1], x.dtype))
        return Apply(self, [x], [TensorType(self.dtype, shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        return [np.asarray(x, order="C").view(self.dtype)]  # ascontiguousarray would make a 0-d input 1-d

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        x = node.inputs[0]
        old, new = np.dtype(x.dtype).itemsize, np.dtype(self.dtype).itemsize
        if x.ndim == 0 or old == new:
            return [shape]
        return [(*shape[:-1], shape[-1] * old // new)]


def bitcast_view(x, dtype):
    """``x``'s bytes as ``dtype`` (``BitcastView``); the same dtype returns ``x``."""
    x = as_tensor_variable(x)
    return x if np.dtype(dtype).name == x.dtype else BitcastView(dtype)(x)


def bitcast(x, dtype):
    """``x``'s bits read as ``dtype`` of the same width, element by element (ONNX's BitCast)."""
    x = as_tensor_variable(x)
    width, target = np.dtype(x.dtype).itemsize, np.dtype(dtype)
    if target.itemsize != width:
        raise TypeError(f"bitcast: {x.dtype} ({width} bytes) cannot be read as {target.name} "
                        f"({target.itemsize} bytes); the widths must match")
    return bitcast_view(x, dtype)

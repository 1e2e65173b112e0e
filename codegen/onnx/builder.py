"""The ONNX graph under construction: nodes, initializers and fresh names.

One ``Builder`` per ONNX graph; a loop body gets a child builder that
shares its parent's name counter, so every value name is unique in the
whole model (ONNX forbids a subgraph to shadow an outer name) and a body
may read outer values by name.  Export rules only call ``node``,
``const`` and ``initializer``; ``export.py`` assembles the GraphProto.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_DTYPES = {
    "bool": TensorProto.BOOL, "int8": TensorProto.INT8, "int16": TensorProto.INT16,
    "int32": TensorProto.INT32, "int64": TensorProto.INT64, "uint8": TensorProto.UINT8,
    "uint16": TensorProto.UINT16, "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64,
    "float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
    "object": TensorProto.STRING,
}
NUMPY_DTYPES = {code: name for name, code in ONNX_DTYPES.items()}


def onnx_dtype(dtype: str) -> int:
    """The TensorProto element type of a NumPy dtype name (ValueError for one ONNX lacks)."""
    try:
        return ONNX_DTYPES[str(dtype)]
    except KeyError:
        raise ValueError(f"ONNX has no tensor element type for dtype {dtype}") from None


def value_info(name: str, dtype: str, shape, dim_names=None) -> onnx.ValueInfoProto:
    """A typed graph input/output; unknown dims get ``dim_names`` (symbolic, e.g. "batch")."""
    dims = []
    for axis, size in enumerate(shape):
        dims.append(size if size is not None else (dim_names[axis] if dim_names else None))
    return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)


class Builder:
    """Collects the nodes and initializers of one ONNX graph."""

    def __init__(self, opset: int, parent: Builder | None = None):
        self.opset = opset
        self.parent = parent
        self._counter = parent._counter if parent is not None else itertools.count()
        self._constants: dict = parent._constants if parent is not None else {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def fresh(self, hint: str = "t") -> str:
        """A name used nowhere else in the model."""
        return f"{hint}_{next(self._counter)}"

    def child(self) -> Builder:
        """A builder for a subgraph (a Loop body) that shares this model's names."""
        return Builder(self.opset, self)

    def root(self) -> Builder:
        return self if self.parent is None else self.parent.root()

    def node(self, op_type: str, inputs, outputs: int | list[str] = 1, **attrs) -> list[str]:
        """Append ``op_type(inputs)``; returns the output names (fresh unless given)."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh("n"), **attrs))
        return names

    def one(self, op_type: str, *inputs, **attrs) -> str:
        """``node`` for a single-output op: its output name."""
        return self.node(op_type, inputs, 1, **attrs)[0]

    def initializer(self, value: np.ndarray, hint: str = "w") -> str:
        """A named initializer (in the root graph, so every subgraph can read it)."""
        root = self.root()
        name = root.fresh(hint)
        root.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def const(self, value, dtype: str | None = None) -> str:
        """A small constant as an initializer, shared between equal values."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.initializer(array, "c")
        return self._constants[key]

    def cast(self, name: str, from_dtype: str, to_dtype: str) -> str:
        return name if str(from_dtype) == str(to_dtype) else self.one("Cast", name, to=onnx_dtype(to_dtype))

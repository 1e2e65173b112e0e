"""Join and Split (each is the other's gradient) and ``concatenate``, ``stack``, ``split``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import expand_dims, normalize_axis
from theanine.graph.ops.math import minimum
from theanine.graph.ops.reshape import flatten
from theanine.graph.ops.shape_values import (
    as_shape_vector,
    axis_size,
    checked_shape_vector,
    shape_entries,
    shape_i,
    static_entries,
    with_axis_size,
)
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete


class Join(Op):
    """``np.concatenate`` of tensors of equal rank along ``axis``, with NumPy's dtype promotion."""

    __props__ = ("axis",)
    takes_strings = True  # moves or selects elements

    def __init__(self, axis: int):
        self.axis = int(axis)

    def make_node(self, *tensors) -> Apply:
        if not tensors:
            raise ValueError("concatenate: need at least one tensor to concatenate. Received: none")
        tensors = [as_tensor_variable(t) for t in tensors]
        shapes = [t.type.shape for t in tensors]
        ndim = tensors[0].ndim
        if ndim == 0:
            raise ValueError(
                "concatenate: zero-dimensional tensors cannot be concatenated (use stack)"
            )
        if any(t.ndim != ndim for t in tensors):
            raise ValueError(
                f"concatenate: every input must have the same rank. "
                f"Received shapes {_listed(shapes)}"
            )
        if not 0 <= self.axis < ndim:
            raise ValueError(
                f"concatenate: axis {self.axis} is out of bounds for tensors of rank {ndim}"
            )
        dtype = np.result_type(*[t.dtype for t in tensors]).name
        return Apply(self, tensors, [TensorType(dtype, _joined_shape(shapes, self.axis))])

    def perform(self, node, inputs):
        return [np.concatenate(inputs, axis=self.axis).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node, input_shapes):
        out = []
        for axis, static in enumerate(node.outputs[0].type.shape):
            if static is not None:
                out.append(static)
            elif axis == self.axis:
                out.append(_sum_sizes([s[axis] for s in input_shapes]))
            else:
                out.append(input_shapes[0][axis])
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        if is_discrete(outputs[0].dtype):
            return [None] * len(inputs)
        sizes = [axis_size(t, self.axis) for t in inputs]
        pieces = _split_by_sizes(output_grads[0], sizes, self.axis)
        return [
            None if is_discrete(t.dtype) else piece for t, piece in zip(inputs, pieces, strict=True)
        ]

    def R_op(self, inputs, eval_points):
        if all(p is None for p in eval_points):
            return [None]
        return [
            self(
                *[
                    ops.creation.zeros_like(x) if p is None else p
                    for x, p in zip(inputs, eval_points, strict=True)
                ]
            )
        ]


def _listed(shapes: Sequence[tuple]) -> str:
    return ", ".join(format_shape(s) for s in shapes)


def _joined_shape(shapes: Sequence[tuple], axis: int) -> tuple[int | None, ...]:
    """The static shape of a concatenation; a ValueError naming the shapes if they cannot match."""
    out = []
    for k, dims in enumerate(zip(*shapes, strict=True)):
        if k == axis:
            out.append(None if None in dims else sum(dims))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ValueError(
                f"concatenate: input shapes {_listed(shapes)} differ on axis {k}; "
                f"only the concatenation "
                f"axis {axis} may differ"
            )
        out.append(known.pop() if known else None)
    return tuple(out)


def _sum_sizes(sizes: Sequence):
    total = 0
    for s in sizes:
        total = total + s
    return total


class Split(Op):
    """Cut ``x`` along ``axis`` into ``n`` consecutive pieces of the given sizes (an int64 vector).

    The sizes must be >= 0 and add up to the length of the axis.  The
    inverse of ``Join``: each is the other's gradient.
    """

    __props__ = ("axis", "n")
    takes_strings = True  # moves or selects elements

    @property
    def view_map(self) -> dict[int, list[int]]:
        """Every piece is a view of ``x`` (``np.split``)."""
        return {i: [0] for i in range(self.n)}

    def __init__(self, axis: int, n: int):
        self.axis = int(axis)
        self.n = int(n)

    def make_node(self, x, sizes) -> Apply:
        x = as_tensor_variable(x)
        sizes = checked_shape_vector(sizes, "split")
        if not 0 <= self.axis < x.ndim:
            raise ValueError(
                f"split: axis {self.axis} is out of bounds for a tensor of type {x.type}"
            )
        if sizes.type.shape[0] != self.n:
            raise ValueError(
                f"{self}: expected {self.n} sizes. Received: a vector of type {sizes.type}"
            )
        static = _static_split_sizes(
            static_entries(sizes), x.type.shape[self.axis], x.type.shape, self.axis
        )
        types = [TensorType(x.dtype, with_axis_size(x.type.shape, self.axis, s)) for s in static]
        return Apply(self, [x, sizes], types)

    def perform(self, node, inputs):
        x, sizes = inputs
        if np.any(sizes < 0) or int(sizes.sum()) != x.shape[self.axis]:
            raise ValueError(
                f"split: sizes {tuple(sizes.tolist())} must be >= 0 and add up to "
                f"{x.shape[self.axis]}, "
                f"the length of axis {self.axis} of an array of shape {x.shape}"
            )
        return list(np.split(x, np.cumsum(sizes)[:-1], axis=self.axis))

    def infer_shape(self, node, input_shapes):
        x_shape, _ = input_shapes
        entries = shape_entries(node.inputs[1])
        return [with_axis_size(x_shape, self.axis, e) for e in entries]

    def connection_pattern(self, node):
        return [[True] * self.n, [False] * self.n]

    def L_op(self, inputs, outputs, output_grads):
        if is_discrete(inputs[0].dtype):
            return [None, None]
        return [Join(self.axis)(*output_grads), None]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None] * self.n
        return list(self.apply(eval_points[0], inputs[1]).outputs)


def _static_split_sizes(
    sizes: Sequence, total: int | None, x_shape: tuple, axis: int
) -> list[int | None]:
    """Static piece sizes; one unknown size is deduced from a static axis length."""
    if any(s is not None and s < 0 for s in sizes):
        raise ValueError(f"split: sizes must be >= 0. Received: {format_shape(sizes)}")
    known = sum(s for s in sizes if s is not None)
    unknown = [i for i, s in enumerate(sizes) if s is None]
    if total is None or len(unknown) > 1:
        return list(sizes)
    if (not unknown and known != total) or known > total:
        raise ValueError(
            f"split: sizes {format_shape(sizes)} do not add up to {total}, "
            f"the length of axis {axis} "
            f"of a tensor of shape {format_shape(x_shape)}"
        )
    return [total - known if s is None else s for s in sizes]


def _split_by_sizes(x: Variable, sizes: Sequence, axis: int) -> list[Variable]:
    return list(Split(axis, len(sizes)).apply(x, as_shape_vector(list(sizes), "split")).outputs)


def concatenate(tensors: Sequence, axis: int | None = 0):
    """``np.concatenate``: ``axis=None`` flattens every tensor first; dtypes promote as in NumPy."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError(
            "concatenate: need at least one tensor to concatenate. Received: an empty sequence"
        )
    if axis is None:
        tensors = [flatten(t, 1) for t in tensors]
        axis = 0
    if tensors[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated (use stack)")
    return Join(normalize_axis(axis, tensors[0].ndim, "concatenate"))(*tensors)


def stack(tensors: Sequence, axis: int = 0):
    """``np.stack``: tensors of one shape joined along a new axis (dtypes promote as in NumPy)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor to stack. Received: an empty sequence")
    shapes = [t.type.shape for t in tensors]
    if any(not tensors[0].type.shape_compatible(t.type) for t in tensors):
        raise ValueError(
            f"stack: every input must have the same shape. Received shapes {_listed(shapes)}"
        )
    axis = normalize_axis(axis, tensors[0].ndim + 1, "stack")
    return Join(axis)(*[expand_dims(t, axis) for t in tensors])


def split(x, indices_or_sections, axis: int = 0) -> list:
    """``np.split``: ``n`` equal sections, or cut before each of the given indices.

    Returns a list of tensors (the outputs of one ``Split`` node).  Equal
    sections of an axis of unknown length are checked at run time.
    Indices must be non-decreasing (NumPy's overlapping pieces for
    decreasing indices are not supported); on an axis of unknown length
    they must also be >= 0.
    """
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise ValueError("split: cannot split a zero-dimensional tensor")
    axis = normalize_axis(axis, x.ndim, "split")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
        indices_or_sections, bool
    ):
        sizes = _section_sizes(x, int(indices_or_sections), axis)
    else:
        sizes = _index_sizes(x, int_list(indices_or_sections, "split", "indices"), axis)
    return _split_by_sizes(x, sizes, axis)


def _section_sizes(x: Variable, sections: int, axis: int) -> list:
    if sections <= 0:
        raise ValueError(f"split: the number of sections must be > 0. Received: {sections}")
    length = x.type.shape[axis]
    if length is not None and length % sections:
        raise ValueError(
            f"split: axis {axis} of a tensor of shape {format_shape(x.type.shape)} "
            f"does not divide into "
            f"{sections} equal sections"
        )
    piece = length // sections if length is not None else shape_i(x, axis) // sections
    return [piece] * sections


def _index_sizes(x: Variable, indices: list[int], axis: int) -> list:
    length = x.type.shape[axis]
    if length is not None:
        bounds = [0] + [min(i + length if i < 0 else i, length) for i in indices] + [length]
    elif any(i < 0 for i in indices):
        raise ValueError(
            f"split: negative indices need a static length of axis {axis}. "
            f"Received: indices={indices} for "
            f"a tensor of shape {format_shape(x.type.shape)}"
        )
    else:
        n = shape_i(x, axis)
        bounds = [0] + [minimum(i, n) for i in indices] + [n]
    if any(
        isinstance(a, int) and isinstance(b, int) and b < a for a, b in itertools.pairwise(bounds)
    ):
        raise ValueError(f"split: indices must be non-decreasing. Received: indices={indices}")
    return [b if isinstance(a, int) and a == 0 else b - a for a, b in itertools.pairwise(bounds)]


def int_list(values, what: str, name: str) -> list[int]:
    """A list of Python ints from a sequence, an array or a constant variable."""
    if isinstance(values, Constant):
        values = values.data
    if isinstance(values, Variable):
        raise TypeError(
            f"{what}: {name} must be ints or a constant int array, not a symbolic {values.type}"
        )
    array = np.asarray(values)
    if array.ndim > 1 or (array.size and array.dtype.kind not in "iu"):
        raise TypeError(
            f"{what}: {name} must be an int or a 1-d sequence of ints. Received: {values!r}"
        )
    return [int(v) for v in array.reshape(-1)]

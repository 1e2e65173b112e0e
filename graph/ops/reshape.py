"""Reshape and the functions built on it: ``reshape``, ``flatten``, ``squeeze``.

The static output shape is inferred from whatever is known when the graph
is built; for reshape's ``-1``, input dimensions that reappear in the
target shape cancel out (``x.reshape((x.shape[0], -1))`` of a
``(None, 3, 4)`` tensor has static shape ``(None, 12)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import DimShuffle
from theanine.graph.ops.math import equal, where
from theanine.graph.ops.reduce import normalize_axes
from theanine.graph.ops.shape_values import (
    as_shape_vector,
    axis_sizes,
    checked_shape_vector,
    entry_sources,
    shape_entries,
    size_product,
    static_entries,
)
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete


class Reshape(Op):
    """``np.reshape(x, shape)`` to ``ndim`` dims; ``shape`` is an int64 vector (one -1 allowed)."""

    __props__ = ("ndim",)
    takes_strings = True  # moves or selects elements
    view_map = {0: [0]}

    def __init__(self, ndim: int):
        self.ndim = int(ndim)

    def make_node(self, x, shape_vector) -> Apply:
        x = as_tensor_variable(x)
        shape_vector = checked_shape_vector(shape_vector, "reshape")
        if shape_vector.type.shape[0] != self.ndim:
            raise ValueError(
                f"{self}: expected a shape vector of length {self.ndim}. "
                f"Received: {shape_vector.type}"
            )
        static = _static_reshape(x, shape_vector)
        return Apply(self, [x, shape_vector], [TensorType(x.dtype, static)])

    def perform(self, node, inputs):
        x, target = inputs
        target = tuple(int(d) for d in target)
        if any(d < -1 for d in target) or target.count(-1) > 1:
            raise ValueError(
                f"reshape: the shape may hold one -1 and otherwise sizes >= 0. Received: {target}"
            )
        try:
            return [np.reshape(x, target)]
        except ValueError:
            raise ValueError(
                f"cannot reshape an array of shape {x.shape} ({x.size} elements) "
                f"into shape {target}"
            ) from None

    def infer_shape(self, node, input_shapes):
        x_shape, _ = input_shapes
        entries = shape_entries(node.inputs[1])
        out = []
        for static, entry in zip(node.outputs[0].type.shape, entries, strict=True):
            if static is not None:
                out.append(static)
            elif isinstance(entry, int):  # known now though not when the node was made (a folded vector)
                out.append(_missing_size(x_shape, entries) if entry == -1 else entry)
            else:
                out.append(where(equal(entry, -1), _missing_size(x_shape, entries), entry))
        return [tuple(out)]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        if is_discrete(x.dtype):
            return [None, None]
        return [reshape(output_grads[0], axis_sizes(x)), None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def _missing_size(x_shape: Sequence, entries: Sequence):
    """The size -1 stands for: size(x) / product of the other entries (= -product of all)."""
    return size_product(list(x_shape)) // -size_product(list(entries))


def _static_reshape(x: Variable, shape_vector: Variable) -> tuple[int | None, ...]:
    """The static output shape of reshape; a ValueError when it cannot work for any value."""
    entries = static_entries(shape_vector)
    negative = [e for e in entries if e is not None and e < 0]
    if len(negative) > 1 or any(e != -1 for e in negative):
        raise ValueError(
            f"reshape: the shape may hold one -1 and otherwise sizes >= 0. "
            f"Received: {format_shape(entries)}"
        )
    x_size = _static_size(x.type.shape)
    if not negative:
        out_size = _static_size(entries)
        if x_size is not None and out_size is not None and x_size != out_size:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {format_shape(x.type.shape)} "
                f"({x_size} elements) "
                f"into shape {format_shape(entries)} ({out_size} elements)"
            )
        return entries
    missing = _static_missing_size(x, entries, entry_sources(shape_vector))
    return tuple(missing if e == -1 else e for e in entries)


def _static_missing_size(x: Variable, entries: Sequence, sources: Sequence) -> int | None:
    """What -1 stands for, when known: input dims that reappear in the target cancel out."""
    unknown = {axis for axis, d in enumerate(x.type.shape) if d is None}
    others = 1
    for entry, source in zip(entries, sources, strict=True):
        if entry == -1:
            continue
        if entry is not None:
            others *= entry
        elif source is not None and source[0] is x and source[1] in unknown:
            unknown.remove(source[1])
        else:
            return None
    if unknown:
        return None
    known = math.prod(d for d in x.type.shape if d is not None)
    if others == 0 or known % others:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {format_shape(x.type.shape)} into shape "
            f"{format_shape(entries)}: the size of the -1 dimension is not a whole number"
        )
    return known // others


def _static_size(dims: Sequence) -> int | None:
    return None if None in dims else math.prod(dims)


def reshape(x, shape):
    """``np.reshape``: ``shape`` holds ints and int scalars (one -1 allowed) or is an int vector.

    The static output shape is inferred where the entries are known; a size
    mismatch raises ValueError when the graph is built if both sizes are
    static, and when the function runs otherwise.
    """
    x = as_tensor_variable(x)
    shape_vector = as_shape_vector(shape, "reshape")
    return Reshape(shape_vector.type.shape[0])(x, shape_vector)


def flatten(x, ndim: int = 1):
    """Keep the first ``ndim - 1`` axes and merge the rest into one (Theano's flatten).

    ``flatten(x, 1)`` is NumPy's ravel; ``flatten(x, 2)`` of a batch gives
    ``(batch, features)``.
    """
    x = as_tensor_variable(x)
    if (
        isinstance(ndim, bool)
        or not isinstance(ndim, (int, np.integer))
        or not 1 <= ndim <= max(x.ndim, 1)
    ):
        raise ValueError(
            f"flatten: ndim must be an int between 1 and {max(x.ndim, 1)} for a tensor of type "
            f"{x.type}. "
            f"Received: ndim={ndim!r}"
        )
    if ndim == x.ndim:
        return x
    dims = axis_sizes(x)
    return reshape(x, dims[: ndim - 1] + (size_product(dims[ndim - 1 :]),))


def squeeze(x, axis=None):
    """Remove axes of size 1.

    The static rule: with ``axis=None`` only axes whose STATIC size is 1 are
    removed (an axis of unknown size stays, even if it is 1 at run time), so
    the output rank is known when the graph is built.  A named axis of
    static size other than 1 raises ValueError; a named axis of unknown size
    is checked at run time (through a reshape, which cannot tell an empty
    tensor's axis of size 0 from 1).
    """
    x = as_tensor_variable(x)
    if axis is None:
        return DimShuffle([a for a, d in enumerate(x.type.shape) if d != 1])(x)
    axes = normalize_axes(axis, x.ndim, "squeeze")
    for a in axes:
        if x.type.shape[a] not in (1, None):
            raise ValueError(
                f"squeeze: cannot remove axis {a} of a tensor of shape "
                f"{format_shape(x.type.shape)}: "
                f"its size is {x.type.shape[a]}, not 1"
            )
    kept = [a for a in range(x.ndim) if a not in axes]
    if all(x.type.shape[a] == 1 for a in axes):
        return DimShuffle(kept)(x)
    dims = axis_sizes(x)
    return reshape(x, tuple(dims[a] for a in kept))

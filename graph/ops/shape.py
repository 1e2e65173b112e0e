"""Shape ops: dimshuffle, symbolic shapes, reshape, concatenation, splitting
and broadcasting, and the functions built from them.

Few op classes, many functions.  Every backend lowers each op class, so only
``DimShuffle``, ``Shape``, ``ShapeI``, ``Reshape``, ``Join``, ``Split`` and
``BroadcastTo`` are ops; ``flatten``, ``squeeze``, ``stack``, ``repeat``,
``tile`` and ``pad`` are compositions of them and take their gradients from
them.

Shapes as values.  An op whose output shape is a value (``Reshape``,
``BroadcastTo``, the sizes of ``Split``) takes it as an int64 vector input,
so it may be computed at run time: ``x.reshape((x.shape[0], -1))``.  A
Python tuple of ints becomes a constant vector; a tuple holding scalar
variables becomes a ``stack`` of int64 scalars.  Static output shapes are
inferred when the graph is built from whatever is known then: constant
entries, sizes of tensors whose static dims are known (``static_value``),
and, for reshape's ``-1``, input dimensions that reappear in the target
shape cancel out (``x.reshape((x.shape[0], -1))`` of a ``(None, 3, 4)``
tensor has static shape ``(None, 12)``).  This is shape inference, not
constant folding: the graph itself is left as written.

Static broadcasting (see ``elemwise.py``): ``broadcast_to`` only expands
dimensions whose static size is 1, so its gradient (a sum over those
dimensions) is fixed when the graph is built; a dimension of unknown size
must equal its target at run time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import INT_DTYPES, TensorType, format_shape, is_discrete

__all__ = [
    "DimShuffle", "Shape", "ShapeI", "Reshape", "Join", "Split", "BroadcastTo", "dimshuffle",
    "transpose", "expand_dims", "shape", "shape_i", "size", "reshape", "flatten", "squeeze",
    "concatenate", "stack", "split", "broadcast_to", "repeat", "tile", "pad",
]

_FOLD_BUDGET = 32


# ---------------------------------------------------------------------------
# DimShuffle


class DimShuffle(Op):
    """Reorder axes, insert broadcastable axes ("x") and drop static-1 axes.

    ``pattern`` lists, for each output axis, an input axis or "x"; input
    axes missing from it are dropped and must have static size 1.
    """

    __props__ = ("pattern",)
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
            from theanine.graph.ops.reduce import sum as reduce_sum

            gz = reduce_sum(gz, axis=new_axes, keepdims=True)
        squeezed = DimShuffle([i for i, p in enumerate(self.pattern) if p != "x"])(gz)
        inverse = [kept.index(a) if a in kept else "x" for a in range(x.ndim)]
        return [DimShuffle(inverse)(squeezed)]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]


def dimshuffle(x, pattern: Sequence):
    return DimShuffle(pattern)(x)


def transpose(x, axes: Sequence[int] | None = None):
    """NumPy's transpose; ``axes=None`` reverses them."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(_normalize_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of range({x.ndim})")
    return DimShuffle(axes)(x)


def expand_dims(x, axis):
    """Insert broadcastable axes at the positions ``axis`` (int or tuple)."""
    x = as_tensor_variable(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    positions = {_normalize_axis(a, out_ndim, "expand_dims") for a in axes}
    if len(positions) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in axis={axis!r}")
    source = iter(range(x.ndim))
    return DimShuffle(["x" if i in positions else next(source) for i in range(out_ndim)])(x)


def _normalize_axis(axis: int, ndim: int, what: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int. Received: axis={axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of bounds for a tensor of rank {ndim}")
    return int(axis) % ndim


# ---------------------------------------------------------------------------
# Symbolic shapes


class Shape(Op):
    """The shape of a tensor as an int64 vector of static length ``x.ndim``."""

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape, dtype="int64").reshape(-1)]

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0].ndim,)]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, eval_points):
        return [None]


class ShapeI(Op):
    """The size of axis ``i`` of a tensor, as an int64 scalar (Theano's ``Shape_i``)."""

    __props__ = ("i",)

    def __init__(self, i: int):
        self.i = int(i)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise ValueError(
                f"{self}: axis {self.i} is out of bounds for an input of type {x.type}"
            )
        return Apply(self, [x], [TensorType("int64", ())])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape[self.i], dtype="int64")]

    def infer_shape(self, node, input_shapes):
        return [()]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, eval_points):
        return [None]


def shape(x):
    """``x.shape``: an int64 vector variable (index it like any vector: ``x.shape[0]``)."""
    return Shape()(x)


def shape_i(x, i: int):
    """The size of axis ``i`` of ``x`` (negative counts from the end) as an int64 scalar."""
    x = as_tensor_variable(x)
    return ShapeI(_normalize_axis(i, x.ndim, "shape_i"))(x)


def size(x):
    """``x.size``: the number of elements, an int64 scalar."""
    from theanine.graph.ops.reduce import prod

    return prod(shape(x))


def _dim(x: Variable, axis: int):
    """The size of ``axis``: a Python int when static, else an int64 scalar."""
    static = x.type.shape[axis]
    return static if static is not None else shape_i(x, axis)


def _dims(x: Variable) -> tuple:
    return tuple(_dim(x, axis) for axis in range(x.ndim))


def _product(factors: Sequence):
    """Product of ints and int64 scalars; a Python int when every factor is one."""
    constant = math.prod(f for f in factors if isinstance(f, int))
    total = None
    for factor in factors:
        if not isinstance(factor, int):
            total = factor if total is None else total * factor
    if total is None:
        return constant
    return total if constant == 1 else total * constant


# ---------------------------------------------------------------------------
# What is known about a shape when the graph is built


def static_value(var: Variable) -> np.ndarray | None:
    """The value of a small integer expression fixed when the graph is built, or None.

    Used for static shape inference only: integer scalars and vectors are
    followed through at most 32 nodes back to constants and to sizes of
    tensors whose static dims are known, and evaluated with each op's
    ``perform``.  Anything else (an input, a float, a failing op) is unknown.
    """
    known: dict[int, np.ndarray] = {}
    pending = [var]
    expanded = 0
    while pending:
        current = pending[-1]
        if id(current) in known:
            pending.pop()
            continue
        leaf = _static_leaf(current)
        if leaf is not None:
            known[id(current)] = leaf
            pending.pop()
            continue
        if current.owner is None or not _is_small_int(current) or expanded >= _FOLD_BUDGET:
            return None
        missing = [v for v in current.owner.inputs if id(v) not in known]
        if missing:
            expanded += 1
            pending.extend(missing)
            continue
        if not _perform_statically(current.owner, known):
            return None
    return known[id(var)]


def _is_small_int(var: Variable) -> bool:
    return getattr(var, "dtype", None) in INT_DTYPES and var.ndim <= 1


def _static_leaf(var: Variable) -> np.ndarray | None:
    """Values known without evaluating anything: constants and static sizes."""
    if isinstance(var, Constant):
        return var.data if _is_small_int(var) else None
    if var.owner is not None and isinstance(var.owner.op, Shape):
        dims = var.owner.inputs[0].type.shape
        return None if None in dims else np.asarray(dims, dtype="int64").reshape(-1)
    source = shape_source(var)
    if source is not None and source[0].type.shape[source[1]] is not None:
        return np.asarray(source[0].type.shape[source[1]], dtype="int64")
    return None


def _perform_statically(node: Apply, known: dict[int, np.ndarray]) -> bool:
    try:
        with np.errstate(all="ignore"):
            values = node.op.perform(node, [known[id(v)] for v in node.inputs])
    except Exception:  # the error belongs to run time, where it is reported with the node
        return False
    for out, value in zip(node.outputs, values, strict=True):
        known[id(out)] = np.asarray(value)
    return True


def shape_source(var: Variable) -> tuple[Variable, int] | None:
    """``(x, axis)`` when ``var`` is the size of ``axis`` of ``x``.

    Recognizes ``shape_i(x, axis)`` and ``x.shape[axis]`` (a constant index
    into ``shape(x)``).
    """
    from theanine.graph.ops.subtensor import Subtensor

    owner = var.owner
    if owner is not None and isinstance(owner.op, ShapeI):
        return owner.inputs[0], owner.op.i
    if owner is None or not isinstance(owner.op, Subtensor):
        return None
    vector = owner.inputs[0]
    if vector.owner is None or not isinstance(vector.owner.op, Shape):
        return None
    (entry, *rest) = owner.op.index
    if rest or entry[0] != "int" or not isinstance(entry[1], int):
        return None
    x = vector.owner.inputs[0]
    return (x, entry[1] % x.ndim) if -x.ndim <= entry[1] < x.ndim else None


def static_int(var) -> int | None:
    """A Python int when ``var`` (an int or an integer scalar) is known statically."""
    if isinstance(var, (int, np.integer)):
        return int(var)
    value = static_value(var)
    return None if value is None or value.ndim != 0 else int(value)


def _stacked_scalars(vector: Variable) -> list[Variable] | None:
    """The scalars of ``stack([s0, s1, ...])``, or None for any other vector."""
    owner = vector.owner
    if owner is None or not isinstance(owner.op, Join) or owner.op.axis != 0:
        return None
    scalars = []
    for part in owner.inputs:
        if part.owner is None or part.owner.op != DimShuffle(("x",)):
            return None
        scalars.append(part.owner.inputs[0])
    return scalars


def static_entries(vector: Variable) -> tuple[int | None, ...]:
    """Entry by entry, what is statically known of an integer vector of static length."""
    value = static_value(vector)
    if value is not None:
        return tuple(int(v) for v in value)
    if vector.owner is not None and isinstance(vector.owner.op, Shape):
        return vector.owner.inputs[0].type.shape
    scalars = _stacked_scalars(vector)
    if scalars is not None:
        return tuple(static_int(s) for s in scalars)
    return (None,) * vector.type.shape[0]


def _entry_sources(vector: Variable) -> list[tuple[Variable, int] | None]:
    """For each entry, the ``(tensor, axis)`` whose size it is, where recognizable."""
    if vector.owner is not None and isinstance(vector.owner.op, Shape):
        return [(vector.owner.inputs[0], axis) for axis in range(vector.type.shape[0])]
    scalars = _stacked_scalars(vector)
    if scalars is None:
        return [None] * vector.type.shape[0]
    return [shape_source(s) for s in scalars]


def shape_entries(vector: Variable) -> list:
    """Each entry of a shape vector as a Python int (static) or an int64 scalar variable."""
    static = static_entries(vector)
    if vector.owner is not None and isinstance(vector.owner.op, Shape):
        symbolic = list(_dims(vector.owner.inputs[0]))
    else:
        symbolic = _stacked_scalars(vector) or [vector[i] for i in range(len(static))]
    return [s if s is not None else v for s, v in zip(static, symbolic, strict=True)]


def as_shape_vector(shape, what: str) -> Variable:
    """An int, a sequence of ints and int scalars, or an int vector, as an int64 vector.

    The vector's length must be static: it is the rank of the result.
    """
    if isinstance(shape, np.ndarray) and shape.ndim <= 1:
        shape = shape.tolist()
    if isinstance(shape, Variable) and shape.ndim == 1:
        return _checked_shape_vector(shape, what)
    if isinstance(shape, (int, np.integer, Variable)):
        shape = [shape]
    if not isinstance(shape, (list, tuple)):
        raise TypeError(
            f"{what}: a shape must be an int, a sequence of ints / integer scalars or an integer "
            f"vector. Received: {shape!r}"
        )
    entries = [_shape_entry(entry, position, what) for position, entry in enumerate(shape)]
    if all(isinstance(e, int) for e in entries):
        return Constant(np.asarray(entries, dtype="int64").reshape(-1))
    return stack(
        [e if isinstance(e, Variable) else Constant(np.asarray(e, dtype="int64")) for e in entries]
    )


def _shape_entry(entry, position: int, what: str):
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
        return int(entry)
    if isinstance(entry, Variable) and entry.ndim == 0 and entry.dtype in INT_DTYPES:
        from theanine.graph.ops.math import cast

        return cast(entry, "int64")
    described = entry.type if isinstance(entry, Variable) else repr(entry)
    raise TypeError(
        f"{what}: shape entries must be ints or integer scalar variables. Received: {described} "
        f"at position {position}"
    )


def _checked_shape_vector(vector: Variable, what: str) -> Variable:
    vector = as_tensor_variable(vector)
    if vector.ndim != 1 or vector.dtype not in INT_DTYPES:
        raise TypeError(
            f"{what}: a shape vector must be an integer vector. Received: {vector.type}"
        )
    if vector.type.shape[0] is None:
        raise ValueError(
            f"{what}: the length of a shape vector must be static (it is the rank of the result). "
            f"Received: {vector.type}"
        )
    from theanine.graph.ops.math import cast

    return cast(vector, "int64")


# ---------------------------------------------------------------------------
# Reshape


class Reshape(Op):
    """``np.reshape(x, shape)`` to ``ndim`` dims; ``shape`` is an int64 vector (one -1 allowed)."""

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim: int):
        self.ndim = int(ndim)

    def make_node(self, x, shape_vector) -> Apply:
        x = as_tensor_variable(x)
        shape_vector = _checked_shape_vector(shape_vector, "reshape")
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
            elif isinstance(entry, int):
                out.append(_missing_size(x_shape, entries))
            else:
                from theanine.graph.ops.math import equal, where

                out.append(where(equal(entry, -1), _missing_size(x_shape, entries), entry))
        return [tuple(out)]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        if is_discrete(x.dtype):
            return [None, None]
        return [reshape(output_grads[0], _dims(x)), None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def _missing_size(x_shape: Sequence, entries: Sequence):
    """The size -1 stands for: size(x) / product of the other entries (= -product of all)."""
    return _product(list(x_shape)) // -_product(list(entries))


def _static_reshape(x: Variable, shape_vector: Variable) -> tuple[int | None, ...]:
    """The static output shape of reshape; a ValueError when it cannot work for any value."""
    entries = static_entries(shape_vector)
    negative = [e for e in entries if e is not None and e < 0]
    if len(negative) > 1 or any(e != -1 for e in negative):
        raise ValueError(
            f"reshape: the shape may hold one -1 and otherwise sizes >= 0. "
            f"Received: {_format_entries(entries)}"
        )
    x_size = _static_size(x.type.shape)
    if not negative:
        out_size = _static_size(entries)
        if x_size is not None and out_size is not None and x_size != out_size:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {format_shape(x.type.shape)} "
                f"({x_size} elements) "
                f"into shape {_format_entries(entries)} ({out_size} elements)"
            )
        return entries
    missing = _static_missing_size(x, entries, _entry_sources(shape_vector))
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
            f"{_format_entries(entries)}: the size of the -1 dimension is not a whole number"
        )
    return known // others


def _static_size(dims: Sequence) -> int | None:
    return None if None in dims else math.prod(dims)


def _format_entries(entries: Sequence) -> str:
    return format_shape(tuple(entries))


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
    dims = _dims(x)
    return reshape(x, dims[: ndim - 1] + (_product(dims[ndim - 1 :]),))


def squeeze(x, axis=None):
    """Remove axes of size 1.

    The static rule: with ``axis=None`` only axes whose STATIC size is 1 are
    removed (an axis of unknown size stays, even if it is 1 at run time), so
    the output rank is known when the graph is built.  A named axis of
    static size other than 1 raises ValueError; a named axis of unknown size
    is checked at run time (through a reshape, which cannot tell an empty
    tensor's axis of size 0 from 1).
    """
    from theanine.graph.ops.reduce import normalize_axes

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
    dims = _dims(x)
    return reshape(x, tuple(dims[a] for a in kept))


# ---------------------------------------------------------------------------
# Join and Split


class Join(Op):
    """``np.concatenate`` of tensors of equal rank along ``axis``, with NumPy's dtype promotion."""

    __props__ = ("axis",)

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
        sizes = [_dim(t, self.axis) for t in inputs]
        pieces = _split_by_sizes(output_grads[0], sizes, self.axis)
        return [
            None if is_discrete(t.dtype) else piece for t, piece in zip(inputs, pieces, strict=True)
        ]

    def R_op(self, inputs, eval_points):
        if all(p is None for p in eval_points):
            return [None]
        from theanine.graph.ops.creation import zeros_like

        return [
            self(
                *[
                    zeros_like(x) if p is None else p
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

    @property
    def view_map(self) -> dict[int, list[int]]:
        """Every piece is a view of ``x`` (``np.split``)."""
        return {i: [0] for i in range(self.n)}

    def __init__(self, axis: int, n: int):
        self.axis = int(axis)
        self.n = int(n)

    def make_node(self, x, sizes) -> Apply:
        x = as_tensor_variable(x)
        sizes = _checked_shape_vector(sizes, "split")
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
        types = [TensorType(x.dtype, _with_dim(x.type.shape, self.axis, s)) for s in static]
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
        return [_with_dim(x_shape, self.axis, e) for e in entries]

    def connection_pattern(self, node):
        return [[True] * self.n, [False] * self.n]

    def L_op(self, inputs, outputs, output_grads):
        if is_discrete(inputs[0].dtype):
            return [None, None]
        return [Join(self.axis)(*output_grads), None]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None] * self.n
        return list(self.make_node(eval_points[0], inputs[1]).outputs)


def _with_dim(dims: Sequence, axis: int, value) -> tuple:
    return tuple(dims[:axis]) + (value,) + tuple(dims[axis + 1 :])


def _static_split_sizes(
    sizes: Sequence, total: int | None, x_shape: tuple, axis: int
) -> list[int | None]:
    """Static piece sizes; one unknown size is deduced from a static axis length."""
    if any(s is not None and s < 0 for s in sizes):
        raise ValueError(f"split: sizes must be >= 0. Received: {_format_entries(sizes)}")
    known = sum(s for s in sizes if s is not None)
    unknown = [i for i, s in enumerate(sizes) if s is None]
    if total is None or len(unknown) > 1:
        return list(sizes)
    if (not unknown and known != total) or known > total:
        raise ValueError(
            f"split: sizes {_format_entries(sizes)} do not add up to {total}, "
            f"the length of axis {axis} "
            f"of a tensor of shape {format_shape(x_shape)}"
        )
    return [total - known if s is None else s for s in sizes]


def _split_by_sizes(x: Variable, sizes: Sequence, axis: int) -> list[Variable]:
    return list(Split(axis, len(sizes)).make_node(x, as_shape_vector(list(sizes), "split")).outputs)


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
    return Join(_normalize_axis(axis, tensors[0].ndim, "concatenate"))(*tensors)


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
    axis = _normalize_axis(axis, tensors[0].ndim + 1, "stack")
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
    axis = _normalize_axis(axis, x.ndim, "split")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
        indices_or_sections, bool
    ):
        sizes = _section_sizes(x, int(indices_or_sections), axis)
    else:
        sizes = _index_sizes(x, _int_list(indices_or_sections, "split", "indices"), axis)
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
        from theanine.graph.ops.math import minimum

        n = shape_i(x, axis)
        bounds = [0] + [minimum(i, n) for i in indices] + [n]
    if any(
        isinstance(a, int) and isinstance(b, int) and b < a for a, b in itertools.pairwise(bounds)
    ):
        raise ValueError(f"split: indices must be non-decreasing. Received: indices={indices}")
    return [b if isinstance(a, int) and a == 0 else b - a for a, b in itertools.pairwise(bounds)]


def _int_list(values, what: str, name: str) -> list[int]:
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


# ---------------------------------------------------------------------------
# BroadcastTo


class BroadcastTo(Op):
    """``np.broadcast_to(x, shape)`` as a new array; only static-1 and new leading dims expand."""

    def make_node(self, x, shape_vector) -> Apply:
        x = as_tensor_variable(x)
        shape_vector = _checked_shape_vector(shape_vector, "broadcast_to")
        target = static_entries(shape_vector)
        return Apply(
            self, [x, shape_vector], [TensorType(x.dtype, _static_broadcast(x.type.shape, target))]
        )

    def perform(self, node, inputs):
        x, target = inputs
        target = tuple(int(d) for d in target)
        lead = len(target) - x.ndim
        for axis, static in enumerate(node.inputs[0].type.shape):
            if static != 1 and x.shape[axis] != target[lead + axis]:
                raise ValueError(
                    f"broadcast_to: cannot broadcast an array of shape {x.shape} to {target}: "
                    f"axis {axis} has "
                    f"size {x.shape[axis]}, and only axes of static size 1 broadcast"
                )
        return [np.array(np.broadcast_to(x, target))]

    def infer_shape(self, node, input_shapes):
        entries = shape_entries(node.inputs[1])
        return [
            tuple(
                s if s is not None else e
                for s, e in zip(node.outputs[0].type.shape, entries, strict=True)
            )
        ]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        if is_discrete(x.dtype):
            return [None, None]
        return [_sum_to(output_grads[0], x.type.shape), None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0], inputs[1])]


def _static_broadcast(dims: tuple, target: tuple) -> tuple[int | None, ...]:
    """The static result of broadcasting ``dims`` to ``target``, or a ValueError naming both."""
    if len(dims) > len(target) or any(t is not None and t < 0 for t in target):
        raise ValueError(
            f"broadcast_to: cannot broadcast a tensor of shape {format_shape(dims)} to shape "
            f"{_format_entries(target)} (the target needs at least as many dimensions and "
            f"sizes >= 0)"
        )
    lead = len(target) - len(dims)
    out = list(target[:lead])
    for axis, (d, t) in enumerate(zip(dims, target[lead:], strict=True)):
        if d is not None and d != 1 and t is not None and t != d:
            raise ValueError(
                f"broadcast_to: cannot broadcast a tensor of shape {format_shape(dims)} to shape "
                f"{_format_entries(target)}: axis {axis} has size {d}, "
                f"and only axes of size 1 broadcast"
            )
        out.append(t if t is not None or d == 1 else d)
    return tuple(out)


def _sum_to(g: Variable, dims: tuple) -> Variable:
    """Sum ``g`` over the axes broadcasting added to a tensor of static shape ``dims``."""
    from theanine.graph.ops.reduce import sum as reduce_sum

    lead = g.ndim - len(dims)
    expanded = tuple(lead + a for a, d in enumerate(dims) if d == 1 and g.type.shape[lead + a] != 1)
    if expanded:
        g = reduce_sum(g, axis=expanded, keepdims=True)
    return reduce_sum(g, axis=tuple(range(lead))) if lead else g


def broadcast_to(x, shape):
    """``np.broadcast_to`` as a new array; only axes of static size 1 expand (module docstring)."""
    return BroadcastTo()(x, as_shape_vector(shape, "broadcast_to"))


# ---------------------------------------------------------------------------
# Compositions: repeat, tile, pad


def repeat(x, repeats, axis: int | None = None):
    """``np.repeat``: ``repeats`` is an int or a constant int array (a count per element).

    ``axis=None`` repeats the elements of the flattened tensor.  An array of
    counts needs the axis's static length and builds one piece per element.
    """
    x = as_tensor_variable(x)
    counts = _int_list(repeats, "repeat", "repeats")
    if any(c < 0 for c in counts):
        raise ValueError(f"repeat: repeats must be >= 0. Received: repeats={counts}")
    if axis is None:
        x, axis = flatten(x, 1), 0
    axis = _normalize_axis(axis, x.ndim, "repeat")
    if len(counts) == 1:
        return _repeat_each(x, counts[0], axis)
    length = x.type.shape[axis]
    if length is None:
        raise ValueError(
            f"repeat: an array of repeats needs the static length of axis {axis}; "
            f"the tensor has type {x.type}"
        )
    if len(counts) != length:
        raise ValueError(f"repeat: got {len(counts)} repeats for axis {axis} of length {length}")
    pieces = split(x, length, axis)
    blocks = [_repeat_each(piece, c, axis) for piece, c in zip(pieces, counts, strict=True) if c]
    if not blocks:
        return _repeat_each(x, 0, axis)
    return concatenate(blocks, axis) if len(blocks) > 1 else blocks[0]


def _repeat_each(x: Variable, count: int, axis: int) -> Variable:
    """Each element along ``axis`` ``count`` times: broadcast along a new axis, then reshape."""
    dims = _dims(x)
    if dims[axis] == 1:
        return broadcast_to(x, _with_dim(dims, axis, count))
    expanded = broadcast_to(
        expand_dims(x, axis + 1), dims[: axis + 1] + (count,) + dims[axis + 1 :]
    )
    return reshape(expanded, _with_dim(dims, axis, _product([dims[axis], count])))


def tile(x, reps):
    """``np.tile``: ``reps`` is an int or ints; the shorter of x's rank and reps gets leading 1s."""
    x = as_tensor_variable(x)
    reps = _int_list(reps, "tile", "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be >= 0. Received: reps={reps}")
    ndim = max(x.ndim, len(reps))
    reps = [1] * (ndim - len(reps)) + reps
    if x.ndim < ndim:
        x = DimShuffle(["x"] * (ndim - x.ndim) + list(range(x.ndim)))(x)
    pattern, target, final = [], [], []
    for axis, (r, dim) in enumerate(zip(reps, _dims(x), strict=True)):
        if r != 1 and dim != 1:
            pattern += ["x", axis]
            target += [r, dim]
        else:
            pattern.append(axis)
            target.append(dim if r == 1 else r)
        final.append(_product([r, dim]))
    if all(r == 1 for r in reps):
        return x
    tiled = broadcast_to(DimShuffle(pattern)(x), tuple(target))
    return reshape(tiled, tuple(final)) if len(target) != ndim else tiled


def pad(x, pad_width, mode: str = "constant", constant_values=0):
    """``np.pad`` in ``mode="constant"``: ``pad_width`` and ``constant_values`` as NumPy takes them.

    Values are cast to x's dtype as NumPy's assignment casts them (1.7 pads
    an int tensor with 1).  Other modes raise NotImplementedError.
    """
    if mode != "constant":
        raise NotImplementedError(
            f"pad: only mode='constant' is implemented. Received: mode={mode!r} "
            "(build other modes from concatenate and indexing)"
        )
    x = as_tensor_variable(x)
    widths = _as_pairs(pad_width, x.ndim, "pad_width")
    values = _value_pairs(constant_values, x.ndim)
    for axis in range(x.ndim):
        x = _pad_axis(x, axis, widths[axis], values[axis])
    return x


def _pad_axis(x: Variable, axis: int, widths: tuple[int, int], values: tuple) -> Variable:
    from theanine.graph.ops.creation import full

    pieces = [x]
    dims = _dims(x)
    if widths[0]:
        pieces.insert(0, full(_with_dim(dims, axis, widths[0]), values[0], dtype=x.dtype))
    if widths[1]:
        pieces.append(full(_with_dim(dims, axis, widths[1]), values[1], dtype=x.dtype))
    return Join(axis)(*pieces) if len(pieces) > 1 else x


def _as_pairs(value, ndim: int, what: str) -> list[tuple[int, int]]:
    """NumPy's ``pad_width`` forms: n, (n,), (before, after), ((before, after),), pairs per axis."""
    array = np.asarray(value)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"pad: `{what}` must hold ints. Received: {value!r}")
    try:
        pairs = np.broadcast_to(array.astype("int64"), (ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: `{what}` does not fit a tensor of rank {ndim}. Received: {value!r}"
        ) from None
    if np.any(pairs < 0):
        raise ValueError(f"pad: `{what}` must be >= 0. Received: {value!r}")
    return [(int(a), int(b)) for a, b in pairs]


def _value_pairs(value, ndim: int) -> list[tuple]:
    """``constant_values`` as (before, after) per axis: a number, a scalar variable or pairs."""
    if isinstance(value, Variable):
        if value.ndim != 0:
            raise ValueError(
                f"pad: a symbolic constant_values must be a scalar. Received: {value.type}"
            )
        return [(value, value)] * ndim
    array = np.asarray(value)
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: `constant_values` does not fit a tensor of rank {ndim}. Received: {value!r}"
        ) from None
    return [(a, b) for a, b in pairs]

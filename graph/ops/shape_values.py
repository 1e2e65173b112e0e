"""Shapes as values: the ``Shape`` and ``ShapeI`` ops, and what is known of a shape statically.

An op whose output shape is a value (``Reshape``, ``BroadcastTo``, the
sizes of ``Split``) takes it as an int64 vector input, so it may be computed
at run time: ``x.reshape((x.shape[0], -1))``.  ``as_shape_vector`` turns a
Python tuple of ints into a constant vector and a tuple holding scalar
variables into a ``stack`` of int64 scalars.  ``static_value``,
``static_entries`` and ``shape_entries`` tell what is known of such a
vector when the graph is built (constants, sizes of tensors whose static
dims are known); this is shape inference, not constant folding: the graph
itself is left as written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Constant, TensorVariable, Variable, topological_order
from theanine.graph.op import NonDifferentiableOp
from theanine.graph.ops.dimshuffle import DimShuffle, normalize_axis
from theanine.graph.ops.math import Cast, cast
from theanine.graph.ops.reduce import prod
from theanine.graph.ops.subtensor import Subtensor
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import INT_DTYPES, TensorType

_FOLD_BUDGET = 32
"""How many nodes ``static_value`` may evaluate for one question."""


class Shape(NonDifferentiableOp):
    """The shape of a tensor as an int64 vector of static length ``x.ndim``."""

    takes_strings = True  # reads the shape only

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape, dtype="int64").reshape(-1)]

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0].ndim,)]


class ShapeI(NonDifferentiableOp):
    """The size of axis ``i`` of a tensor, as an int64 scalar (Theano's ``Shape_i``)."""

    __props__ = ("i",)
    takes_strings = True  # reads the shape only

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


class ShapeVariable(TensorVariable):
    """``x.shape``: Theano's int64 vector, which also reads as Keras' shape tuple.

    In graphs it is the vector it always was (``x.shape[0]`` is a symbolic
    scalar, ``th.zeros(x.shape)`` works).  As Keras code reads it: ``len``
    is the rank; iterating gives each dim, an int where static, else the
    symbolic ``x.shape[i]``; ``==`` against a tuple or list compares the
    static shape (None for a dim known at run time): ``inputs.shape ==
    (None, 784)``; it prints as that tuple.  Any other ``==`` stays
    Theano's identity test.
    """

    __hash__ = TensorVariable.__hash__

    def static_shape(self) -> tuple | None:
        """The static shape of the tensor this is the shape of (None when not known)."""
        if self.owner is None or not isinstance(self.owner.op, Shape):
            return None
        return tuple(self.owner.inputs[0].type.shape)

    def __len__(self) -> int:
        return self.type.shape[0]

    def __iter__(self):
        static = self.static_shape()
        for i in range(self.type.shape[0]):
            yield static[i] if static is not None and static[i] is not None else self[i]

    def __eq__(self, other):
        static = self.static_shape()
        if isinstance(other, (tuple, list)) and static is not None:
            return len(other) == len(static) and all(a == b for a, b in zip(static, other, strict=True))
        return self is other

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self) -> str:
        static = self.static_shape()
        return str(static) if static is not None else self.label()

    __repr__ = __str__


def shape(x):
    """``x.shape``: an int64 vector variable (index it like any vector: ``x.shape[0]``) that
    also reads as Keras' shape tuple (``ShapeVariable``)."""
    out = Shape()(x)
    out.__class__ = ShapeVariable
    return out


def shape_i(x, i: int):
    """The size of axis ``i`` of ``x`` (negative counts from the end) as an int64 scalar."""
    x = as_tensor_variable(x)
    return ShapeI(normalize_axis(i, x.ndim, "shape_i"))(x)


def size(x):
    """``x.size``: the number of elements, an int64 scalar."""
    return prod(shape(x))


def axis_size(x: Variable, axis: int):
    """The size of ``axis``: a Python int when static, else an int64 scalar."""
    static = x.type.shape[axis]
    return static if static is not None else shape_i(x, axis)


def axis_sizes(x: Variable) -> tuple:
    """The size of every axis: Python ints where static, int64 scalars elsewhere."""
    return tuple(axis_size(x, axis) for axis in range(x.ndim))


def size_product(factors: Sequence):
    """Product of ints and int64 scalars; a Python int when every factor is one."""
    constant = math.prod(f for f in factors if isinstance(f, int))
    total = None
    for factor in factors:
        if not isinstance(factor, int):
            total = factor if total is None else total * factor
    if total is None:
        return constant
    return total if constant == 1 else total * constant


def with_axis_size(dims: Sequence, axis: int, value) -> tuple:
    """``dims`` with the size of ``axis`` replaced by ``value``."""
    return tuple(dims[:axis]) + (value,) + tuple(dims[axis + 1 :])


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


@dataclass(frozen=True)
class _Entry:
    """What is known of one entry of a shape vector when the graph is built: its value, the
    ``(tensor, axis)`` whose size it is, and the int scalar variable it came from."""

    static: int | None = None
    source: tuple[Variable, int] | None = None
    scalar: Variable | None = None


def _scalar_entry(scalar: Variable) -> _Entry:
    return _Entry(static_int(scalar), shape_source(scalar), scalar)


def _entry_parts(vector: Variable) -> list[Variable]:
    """The vectors whose entries ``vector``'s entries are (concatenated, sliced or cast), if any."""
    owner = vector.owner
    if owner is None:
        return []
    if isinstance(owner.op, ops.join.Join) and owner.op.axis == 0:
        return [p for p in owner.inputs if p.owner is None or p.owner.op != DimShuffle(("x",))]
    if _is_int_cast(owner) or _constant_slice(owner) is not None:
        return [owner.inputs[0]]
    return []


def _is_int_cast(node: Apply) -> bool:
    """A cast of an integer vector to another integer dtype (which keeps every shape size)."""
    scalar_op = getattr(node.op, "scalar_op", None)
    return isinstance(scalar_op, Cast) and node.inputs[0].dtype in INT_DTYPES and node.outputs[0].dtype in INT_DTYPES


def _constant_slice(node: Apply) -> slice | None:
    """The slice of ``vector[start:stop:step]`` with constant bounds, else None."""
    if not isinstance(node.op, Subtensor) or len(node.inputs) != 1 or len(node.op.index) != 1:
        return None
    kind, *bounds = node.op.index[0]
    return slice(*bounds) if kind == "slice" else None


def _own_entries(vector: Variable, known: dict[int, list[_Entry]]) -> list[_Entry]:
    """The entries of ``vector`` given the entries of its parts (in ``known``)."""
    length = vector.type.shape[0]
    value = static_value(vector)
    if value is not None:
        return [_Entry(int(v)) for v in value]
    owner = vector.owner
    if owner is not None and isinstance(owner.op, Shape):
        x = owner.inputs[0]
        return [_Entry(d, (x, axis), None) for axis, d in enumerate(x.type.shape)]
    if owner is not None and isinstance(owner.op, ops.join.Join) and owner.op.axis == 0:
        entries = []
        for part in owner.inputs:
            if id(part) in known:
                entries += known[id(part)]
            else:
                entries.append(_scalar_entry(part.owner.inputs[0]))
        return entries if len(entries) == length else [_Entry()] * length
    if owner is not None and _is_int_cast(owner):
        return known[id(owner.inputs[0])]
    if owner is not None and _constant_slice(owner) is not None:
        return known[id(owner.inputs[0])][_constant_slice(owner)]
    return [_Entry()] * length


def _entries(vector: Variable) -> list[_Entry]:
    """Entry by entry, what is known of an integer vector of static length (read through
    concatenations, stacks of scalars, constant slices and integer casts)."""
    order = topological_order([vector], _entry_parts)
    if len(order) > _FOLD_BUDGET:
        return [_Entry()] * vector.type.shape[0]
    known: dict[int, list[_Entry]] = {}
    for part in order:
        known[id(part)] = _own_entries(part, known)
    return known[id(vector)]


def static_entries(vector: Variable) -> tuple[int | None, ...]:
    """Entry by entry, what is statically known of an integer vector of static length."""
    return tuple(e.static for e in _entries(vector))


def entry_sources(vector: Variable) -> list[tuple[Variable, int] | None]:
    """For each entry, the ``(tensor, axis)`` whose size it is, where recognizable."""
    return [e.source for e in _entries(vector)]


def shape_entries(vector: Variable) -> list:
    """Each entry of a shape vector as a Python int (static) or an int64 scalar variable."""
    entries = _entries(vector)
    return [
        e.static if e.static is not None else _symbolic_entry(vector, i, e) for i, e in enumerate(entries)
    ]


def _symbolic_entry(vector: Variable, index: int, entry: _Entry) -> Variable:
    """An int64 scalar for an entry whose value is known only at run time."""
    if entry.source is not None:
        return shape_i(*entry.source)
    if entry.scalar is not None and entry.scalar.dtype == "int64":
        return entry.scalar
    return vector[index]


def sizes_or_shape(args: tuple):
    """The shape that ``f(*args)`` means for a function taking sizes or one whole shape, as
    ``x.reshape(2, 3)`` / ``x.reshape((2, 3))`` / ``x.reshape(y.shape)`` and Theano's ``alloc``."""
    if len(args) != 1:
        return args
    (arg,) = args
    if isinstance(arg, Variable):
        return arg if arg.ndim == 1 else args
    return arg if isinstance(arg, (list, tuple)) or np.ndim(arg) == 1 else args


def as_shape_vector(shape, what: str) -> Variable:
    """An int, a sequence of ints and int scalars, or an int vector, as an int64 vector.

    The vector's length must be static: it is the rank of the result.
    """
    if isinstance(shape, np.ndarray) and shape.ndim <= 1:
        shape = shape.tolist()
    if isinstance(shape, Variable) and shape.ndim == 1:
        return checked_shape_vector(shape, what)
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
    return ops.join.stack(
        [e if isinstance(e, Variable) else Constant(np.asarray(e, dtype="int64")) for e in entries]
    )


def _shape_entry(entry, position: int, what: str):
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
        return int(entry)
    if isinstance(entry, Variable) and entry.ndim == 0 and entry.dtype in INT_DTYPES:
        return cast(entry, "int64")
    described = entry.type if isinstance(entry, Variable) else repr(entry)
    raise TypeError(
        f"{what}: shape entries must be ints or integer scalar variables. Received: {described} "
        f"at position {position}"
    )


def checked_shape_vector(vector: Variable, what: str) -> Variable:
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
    return cast(vector, "int64")

"""Indexing with NumPy semantics: views, gathers, and their functional updates.

Three ops share one description of an index (``index``, an immutable tuple
of entries kept as an op parameter) and differ in what they do with it:

- ``Subtensor``: basic indexing (ints, slices, newaxis, Ellipsis); a view.
- ``AdvancedSubtensor``: an index holding integer arrays or boolean masks
  (a gather), with NumPy's rules for where the advanced dimensions go.
- ``IncSubtensor``: a copy of ``x`` with ``x[index]`` set to, or
  incremented by, a value; repeated advanced indices accumulate as
  ``np.add.at`` does (set: the last write wins, as in NumPy).

Index entries (constants live in the entry, ``SYMBOLIC`` marks a part
given as an op input, consumed in order):

    ("int", k | SYMBOLIC)                 x[3], x[i]
    ("slice", start, stop, step)          each None, an int or SYMBOLIC
    ("newaxis",) / ("ellipsis",)          x[None], x[...]
    ("array",)                            an integer index array (rank >= 1)
    ("mask",)                             a boolean mask (rank >= 1)

A k-dimensional mask takes k axes and gives one dimension, as its
``nonzero()`` arrays would; its static size is known only for a constant
mask.  Shapes come from one walk over the index (``_result_dims``) under
two dimension algebras: static (ints or None, for ``make_node``) and
symbolic (int64 scalars, for ``infer_shape``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.ops.elemwise import elemwise_inputs
from theanine.graph.ops.gradient_helpers import sum_to_shape
from theanine.graph.ops.math import cast, equal, greater, less, maximum, minimum, where
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete

__all__ = [
    "Subtensor",
    "AdvancedSubtensor",
    "IncSubtensor",
    "getitem",
    "take",
    "set_subtensor",
    "inc_subtensor",
]

SYMBOLIC = "?"
_ADVANCED_KINDS = ("array", "mask")
_VALID_INDICES = (
    "only integers, slices (`:`), ellipsis (`...`), None (newaxis) and integer or boolean arrays "
    "are valid indices"
)


# ---------------------------------------------------------------------------
# Turning a Python index into entries plus symbolic inputs


def getitem(x, index):
    """``x[index]`` with NumPy semantics (``TensorVariable.__getitem__``)."""
    x = as_tensor_variable(x)
    entries, inputs = parse_index(index)
    return indexing_op(entries)(x, *inputs)


def parse_index(index) -> tuple[tuple, list[Variable]]:
    """Split a Python index into hashable entries and the variables they consume."""
    items = index if isinstance(index, tuple) else (index,)
    entries: list[tuple] = []
    inputs: list[Variable] = []
    for item in items:
        _parse_item(item, entries, inputs)
    return tuple(entries), inputs


def _parse_item(item, entries: list[tuple], inputs: list[Variable]) -> None:
    if item is None:
        entries.append(("newaxis",))
    elif item is Ellipsis:
        entries.append(("ellipsis",))
    elif isinstance(item, slice):
        parts = (_slice_part(p, inputs) for p in (item.start, item.stop, item.step))
        entries.append(("slice", *parts))
    elif isinstance(item, (bool, np.bool_)):
        raise IndexError(
            f"{_VALID_INDICES}; a boolean scalar index is not supported. Received: {item!r}"
        )
    elif isinstance(item, (int, np.integer)):
        entries.append(("int", int(item)))
    else:
        _parse_tensor_item(_index_variable(item), entries, inputs)


def _index_variable(item) -> Variable:
    """A tensor for an array-like index; an empty list is an empty int64 array, as in NumPy."""
    if isinstance(item, Variable):
        return item
    if isinstance(item, (list, tuple)) and not _holds_variables(item) and np.size(item) == 0:
        return Constant(np.asarray(item, dtype="int64"))
    try:
        return as_tensor_variable(item)
    except (TypeError, ValueError) as exc:
        raise IndexError(f"{_VALID_INDICES}. Received: {item!r}") from exc


def _holds_variables(item) -> bool:
    return isinstance(item, (list, tuple)) and any(
        isinstance(v, Variable) or _holds_variables(v) for v in item
    )


def _parse_tensor_item(var: Variable, entries: list[tuple], inputs: list[Variable]) -> None:
    kind = np.dtype(var.dtype).kind
    if kind not in "biu":
        raise IndexError(f"{_VALID_INDICES}. Received: a {var.type} index ({var.label()})")
    if var.ndim == 0:
        if kind == "b":
            raise IndexError(
                f"{_VALID_INDICES}; a boolean scalar index is not supported. "
                f"Received: {var.label()}"
            )
        entries.append(("int", _constant_int(var)))
        if entries[-1][1] == SYMBOLIC:
            inputs.append(var)
    else:
        entries.append(("mask",) if kind == "b" else ("array",))
        inputs.append(var)


def _constant_int(var: Variable) -> int | str:
    return int(var.data) if isinstance(var, Constant) else SYMBOLIC


def _slice_part(part, inputs: list[Variable]) -> int | str | None:
    """A slice bound: None, a Python int, or SYMBOLIC (its variable appended to ``inputs``)."""
    if part is None:
        return None
    if isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)):
        return int(part)
    if isinstance(part, Variable) and part.ndim == 0 and np.dtype(part.dtype).kind in "iu":
        value = _constant_int(part)
        if value == SYMBOLIC:
            inputs.append(part)
        return value
    described = part.type if isinstance(part, Variable) else repr(part)
    raise TypeError(
        f"slice indices must be integers, integer scalar variables or None. Received: {described}"
    )


def indexing_op(entries: tuple) -> Op:
    """The op that reads ``x[entries]``: a gather when an array or mask is present."""
    if any(e[0] in _ADVANCED_KINDS for e in entries):
        return AdvancedSubtensor(entries)
    return Subtensor(entries)


# ---------------------------------------------------------------------------
# Binding entries to values and laying them out over the input's axes


def bind_index(entries: tuple, values: Sequence) -> list[tuple]:
    """Entries with each SYMBOLIC part and each array/mask replaced by its value, in order."""
    it = iter(values)
    bound = []
    for entry in entries:
        if entry[0] in _ADVANCED_KINDS:
            bound.append((entry[0], next(it)))
        else:
            bound.append(
                (entry[0], *(next(it) if part == SYMBOLIC else part for part in entry[1:]))
            )
    return bound


def count_symbolic(entries: tuple) -> int:
    """How many op inputs (after ``x``) the entries consume."""
    return sum(1 if e[0] in _ADVANCED_KINDS else sum(p == SYMBOLIC for p in e[1:]) for e in entries)


def numpy_index(entries: tuple, values: Sequence) -> tuple:
    """The NumPy index for ``entries`` given the run-time values of the symbolic parts."""
    return tuple(_numpy_item(entry) for entry in bind_index(entries, values))


def _numpy_item(entry: tuple):
    kind = entry[0]
    if kind == "int":
        return int(entry[1])
    if kind == "slice":
        return slice(*(None if p is None else int(p) for p in entry[1:]))
    if kind == "newaxis":
        return None
    if kind == "ellipsis":
        return Ellipsis
    return np.asarray(entry[1])


def _consumed_axes(entry: tuple) -> int:
    kind = entry[0]
    if kind in ("newaxis", "ellipsis"):
        return 0
    return entry[1].ndim if kind == "mask" else 1


def _layout(bound: list[tuple], ndim: int) -> list[tuple[tuple, int, int]]:
    """``(entry, first input axis, number of input axes)`` per entry.

    The Ellipsis takes the axes no other entry names; without one, the
    trailing axes are taken by an implicit Ellipsis at the end (which, being
    last, never separates advanced indices).
    """
    ellipses = sum(e[0] == "ellipsis" for e in bound)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_consumed_axes(e) for e in bound)
    if used > ndim:
        raise IndexError(
            f"too many indices for tensor: tensor is {ndim}-dimensional, but {used} were indexed"
        )
    if not ellipses:
        bound = [*bound, ("ellipsis",)]
    layout, axis = [], 0
    for entry in bound:
        count = ndim - used if entry[0] == "ellipsis" else _consumed_axes(entry)
        layout.append((entry, axis, count))
        axis += count
    return layout


def _result_dims(layout, x_dims: Sequence, algebra) -> list:
    """The output dims of ``x[index]`` (NumPy's rules), in the given dimension algebra.

    Integers count as advanced indices as soon as an array or mask is
    present.  The broadcast advanced dims replace the first advanced entry
    when all advanced entries are adjacent, and go first otherwise.
    """
    has_advanced = any(e[0] in _ADVANCED_KINDS for e, _, _ in layout)
    out: list = []
    advanced_shapes, advanced_positions, insert_at = [], [], 0
    for position, (entry, axis, count) in enumerate(layout):
        kind = entry[0]
        if kind in _ADVANCED_KINDS or (kind == "int" and has_advanced):
            insert_at = insert_at if advanced_positions else len(out)
            advanced_positions.append(position)
            advanced_shapes.append(algebra.advanced_shape(entry))
        elif kind == "slice":
            out.append(algebra.slice_length(x_dims[axis], *entry[1:]))
        elif kind == "newaxis":
            out.append(1)
        elif kind == "ellipsis":
            out.extend(x_dims[axis : axis + count])
    if not advanced_positions:
        return out
    adjacent = advanced_positions[-1] - advanced_positions[0] + 1 == len(advanced_positions)
    at = insert_at if adjacent else 0
    return out[:at] + list(algebra.broadcast(advanced_shapes)) + out[at:]


class _StaticDims:
    """Dimension algebra over static sizes: ints, or None when unknown."""

    @staticmethod
    def advanced_shape(entry: tuple) -> tuple:
        kind, value = entry[0], entry[1]
        if kind == "int":
            return ()
        if kind == "mask":
            return (int(np.count_nonzero(value.data)) if isinstance(value, Constant) else None,)
        return value.type.shape

    @staticmethod
    def slice_length(n, start, stop, step) -> int | None:
        if n is None or any(isinstance(p, Variable) for p in (start, stop, step)):
            return None
        return len(range(*slice(start, stop, step).indices(n)))

    @staticmethod
    def broadcast(shapes: Sequence[tuple]) -> tuple:
        out = []
        for dims in zip(*_right_aligned(shapes), strict=True):
            sizes = {d for d in dims if d is not None and d != 1}
            if len(sizes) > 1:
                listed = " ".join(format_shape(s) for s in shapes)
                raise IndexError(
                    "shape mismatch: indexing arrays could not be broadcast together "
                    f"with shapes {listed}"
                )
            out.append(sizes.pop() if sizes else (None if None in dims else 1))
        return tuple(out)


class _SymbolicDims:
    """Dimension algebra over symbolic sizes: ints or int64 scalar variables."""

    def __init__(self, shapes_of: dict[int, tuple]):
        self.shapes_of = shapes_of

    def advanced_shape(self, entry: tuple) -> tuple:
        kind, value = entry[0], entry[1]
        if kind == "int":
            return ()
        if kind == "mask":
            return (_as_int64(value.sum()),)
        return self.shapes_of[id(value)]

    @staticmethod
    def slice_length(n, start, stop, step):
        parts = [
            p if p is None or isinstance(p, int) else _as_int64(p) for p in (start, stop, step)
        ]
        return symbolic_slice_length(n, *parts)

    @staticmethod
    def broadcast(shapes: Sequence[tuple]) -> tuple:
        out = []
        for dims in zip(*_right_aligned(shapes), strict=True):
            fixed = [d for d in dims if isinstance(d, int) and d != 1]
            if fixed:
                out.append(fixed[0])
                continue
            result = 1
            for d in (d for d in dims if not isinstance(d, int)):
                result = d if isinstance(result, int) else where(equal(d, 1), result, d)
            out.append(result)
        return tuple(out)


def _right_aligned(shapes: Sequence[tuple]) -> list[tuple]:
    ndim = max((len(s) for s in shapes), default=0)
    return [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]


def _as_int64(var):
    return cast(var, "int64")


def symbolic_slice_length(n, start, stop, step):
    """``len(range(*slice(start, stop, step).indices(n)))`` for ints or int64 scalar variables."""
    if all(p is None or isinstance(p, int) for p in (n, start, stop, step)):
        return len(range(*slice(start, stop, step).indices(n)))
    step = 1 if step is None else step
    if isinstance(step, int):
        return _as_int64(_directed_length(n, start, stop, step, forward=step > 0))
    forward = _directed_length(n, start, stop, step, forward=True)
    backward = _directed_length(n, start, stop, step, forward=False)
    return _as_int64(where(greater(step, 0), forward, backward))


def _directed_length(n, start, stop, step, forward: bool):
    """Python's slice length for a step known to be positive (``forward``) or negative."""
    if forward:
        first = 0 if start is None else _clamp(_wrap(start, n), 0, n)
        end = n if stop is None else _clamp(_wrap(stop, n), 0, n)
        return _maximum((end - first + step - 1) // step, 0)
    first = n - 1 if start is None else _clamp(_wrap(start, n), -1, n - 1)
    end = -1 if stop is None else _clamp(_wrap(stop, n), -1, n - 1)
    return _maximum((first - end - step - 1) // (-step), 0)


def _wrap(i, n):
    """A negative position counts from the end."""
    if isinstance(i, int):
        return i + n if i < 0 else i
    return where(less(i, 0), i + n, i)


def _maximum(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return maximum(a, b)


def _minimum(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return minimum(a, b)


def _clamp(value, low, high):
    return _minimum(_maximum(value, low), high)


# ---------------------------------------------------------------------------
# Construction-time checks


def _check_index_inputs(entries: tuple, inputs: Sequence[Variable], what: str) -> None:
    """The symbolic parts must be integer scalars, arrays of ints, or boolean masks."""
    if len(inputs) != count_symbolic(entries):
        raise TypeError(
            f"{what}: the index {format_index(entries)} takes {count_symbolic(entries)} "
            f"symbolic input(s), got {len(inputs)}"
        )
    for entry in bind_index(entries, inputs):
        if entry[0] == "array":
            _expect(entry[1], "iu", True, what)
        elif entry[0] == "mask":
            _expect(entry[1], "b", True, what)
        else:
            for part in entry[1:]:
                if isinstance(part, Variable):
                    _expect(part, "iu", False, what)


def _expect(var: Variable, kinds: str, array: bool, what: str) -> None:
    if np.dtype(var.dtype).kind in kinds and (var.ndim >= 1) == array:
        return
    expected = {"iu": "integer", "b": "boolean"}[kinds] + (
        " array of rank >= 1" if array else " scalar"
    )
    raise TypeError(
        f"{what}: expected an {expected} as index. Received: {var.label()} of type {var.type}"
    )


def _check_static_bounds(layout, shape: tuple) -> None:
    """IndexError at construction for constant indices outside static dimensions."""
    for entry, axis, count in layout:
        kind = entry[0]
        if kind == "int" and isinstance(entry[1], int):
            _check_in_bounds(entry[1], entry[1], axis, shape[axis])
        elif kind == "array" and isinstance(entry[1], Constant) and entry[1].data.size:
            _check_in_bounds(int(entry[1].data.min()), int(entry[1].data.max()), axis, shape[axis])
        elif kind == "mask":
            _check_mask_shape(entry[1], axis, shape[axis : axis + count])


def _check_in_bounds(low: int, high: int, axis: int, size: int | None) -> None:
    if size is None:
        return
    for value in (low, high):
        if not -size <= value < size:
            raise IndexError(f"index {value} is out of bounds for axis {axis} with size {size}")


def _check_mask_shape(mask: Variable, axis: int, sizes: tuple) -> None:
    for offset, (size, mask_size) in enumerate(zip(sizes, mask.type.shape, strict=True)):
        if size is not None and mask_size is not None and size != mask_size:
            raise IndexError(
                f"boolean index did not match indexed tensor along axis {axis + offset}; "
                f"size of axis is {size} but size of corresponding boolean axis is {mask_size}"
            )


def _indexed_layout(entries: tuple, x: Variable, inputs: Sequence[Variable], what: str):
    _check_index_inputs(entries, inputs, what)
    layout = _layout(bind_index(entries, inputs), x.ndim)
    _check_static_bounds(layout, x.type.shape)
    return layout


def format_index(entries: tuple) -> str:
    """``[2, ?, 1:?:-1, None, ..., array, mask]``: the index as a user would write it."""
    return "[" + ", ".join(_format_entry(e) for e in entries) + "]"


def _format_entry(entry: tuple) -> str:
    kind = entry[0]
    if kind == "slice":
        start, stop, step = ("" if p is None else str(p) for p in entry[1:])
        return f"{start}:{stop}" + (f":{step}" if step else "")
    if kind == "int":
        return str(entry[1])
    return {"newaxis": "None", "ellipsis": "..."}.get(kind, kind)


# ---------------------------------------------------------------------------
# The ops


class _IndexOp(Op):
    """Shared rules of ``Subtensor`` and ``AdvancedSubtensor``: ``x[index]``."""

    __props__ = ("index",)
    takes_strings = True  # moves or selects elements
    advanced = False

    def __init__(self, index: tuple):
        self.index = tuple(tuple(entry) for entry in index)
        if any(e[0] in _ADVANCED_KINDS for e in self.index) != self.advanced:
            raise TypeError(
                f"{type(self).__name__} cannot hold the index {format_index(self.index)}; "
                "use indexing_op(index) to pick the op"
            )

    def __str__(self) -> str:
        return f"{type(self).__name__}{{{format_index(self.index)}}}"

    def make_node(self, x, *index_inputs) -> Apply:
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(v) for v in index_inputs]
        layout = _indexed_layout(self.index, x, inputs, str(self))
        shape = _result_dims(layout, x.type.shape, _StaticDims)
        return Apply(self, [x, *inputs], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        x, *values = inputs
        return [np.asarray(x[numpy_index(self.index, values)])]

    def infer_shape(self, node, input_shapes):
        x, *inputs = node.inputs
        shapes_of = {id(v): s for v, s in zip(inputs, input_shapes[1:], strict=True)}
        layout = _layout(bind_index(self.index, inputs), x.ndim)
        return [tuple(_result_dims(layout, input_shapes[0], _SymbolicDims(shapes_of)))]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        """The gradient scatters back: ``inc_subtensor(zeros_like(x)[index], gz)``."""
        x, *index_inputs = inputs
        none = [None] * len(index_inputs)
        if is_discrete(x.dtype):
            return [None] + none
        return [
            IncSubtensor(self.index, False)(ops.creation.zeros_like(x), output_grads[0], *index_inputs)
        ] + none

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


class Subtensor(_IndexOp):
    """Basic indexing (ints, slices, newaxis, Ellipsis): the output is a view of ``x``.

    ``view_map`` declares that aliasing (output 0 views input 0) for the
    inplace rewrites and their destroy handler.
    """

    view_map = {0: [0]}


class AdvancedSubtensor(_IndexOp):
    """Indexing with integer arrays or boolean masks (a gather): the output is a copy."""

    advanced = True


class IncSubtensor(Op):
    """``x`` with ``x[index]`` incremented by ``v`` (or set to ``v``); ``x`` itself is unchanged.

    Inputs: ``x``, ``v`` (of ``x``'s dtype, broadcasting to the indexed
    shape with static broadcasting rules), then the symbolic index parts.
    Increments accumulate over repeated advanced indices (``np.add.at``).
    """

    __props__ = ("index", "set_instead_of_inc")

    def __init__(self, index: tuple, set_instead_of_inc: bool = False):
        self.index = tuple(tuple(entry) for entry in index)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self) -> str:
        name = "SetSubtensor" if self.set_instead_of_inc else "IncSubtensor"
        return f"{name}{{{format_index(self.index)}}}"

    def make_node(self, x, v, *index_inputs) -> Apply:
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if v.dtype != x.dtype:
            raise TypeError(
                f"{self}: the value must have the dtype of the tensor, {x.dtype}. "
                f"Received: value of type {v.type}"
            )
        inputs = [as_tensor_variable(i) for i in index_inputs]
        layout = _indexed_layout(self.index, x, inputs, str(self))
        target = tuple(_result_dims(layout, x.type.shape, _StaticDims))
        _check_value_fits(v.type.shape, target, str(self))
        return Apply(self, [x, v, *inputs], [x.type])

    def perform(self, node, inputs):
        x, v, *values = inputs
        return [self.write_into(node, np.array(x, copy=True), v, values)]

    def write_into(self, node, out: np.ndarray, v: np.ndarray, values) -> np.ndarray:
        """Set or add ``v`` at the index in ``out`` (repeated advanced indices accumulate) and return it."""
        index = numpy_index(self.index, values)
        _check_runtime_value(node.inputs[1].type.shape, v.shape, out[index].shape)
        if self.set_instead_of_inc:
            out[index] = v
        elif any(e[0] in _ADVANCED_KINDS for e in self.index):
            np.add.at(out, index, v)
        else:
            out[index] += v
        return out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * (len(node.inputs) - 2)

    def L_op(self, inputs, outputs, output_grads):
        """x: gz (inc) or gz with the region zeroed (set); v: gz[index] summed to v's shape.

        For a set with repeated advanced indices only the last write reaches
        the output, but v's gradient counts every write (as Theano's does).
        """
        x, v, *index_inputs = inputs
        (gz,) = output_grads
        none = [None] * len(index_inputs)
        if is_discrete(x.dtype):
            return [None, None] + none
        gx = gz
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.index, True)(
                gz, Constant(np.zeros((), dtype=x.dtype)), *index_inputs
            )
        gv = sum_to_shape(indexing_op(self.index)(gz, *index_inputs), v.type.shape)
        return [gx, gv] + none

    def R_op(self, inputs, eval_points):
        """Linear in ``(x, v)``: the same update applied to the tangents."""
        x, v, *index_inputs = inputs
        if (eval_points[0] is None and eval_points[1] is None) or is_discrete(x.dtype):
            return [None]
        tx = ops.creation.zeros_like(x) if eval_points[0] is None else eval_points[0]
        tv = ops.creation.zeros_like(v) if eval_points[1] is None else eval_points[1]
        return [self(tx, tv, *index_inputs)]


def _check_value_fits(value_shape: tuple, target: tuple, what: str) -> None:
    """Static check that a value of ``value_shape`` broadcasts to ``target``."""
    aligned = target[len(target) - len(value_shape) :] if len(value_shape) <= len(target) else None
    fits = aligned is not None and all(
        v == 1 or v is None or t is None or v == t
        for v, t in zip(value_shape, aligned, strict=True)
    )
    if not fits:
        raise ValueError(
            f"{what}: a value of shape {format_shape(value_shape)} cannot be broadcast to "
            f"the indexed shape {format_shape(target)}"
        )


def _check_runtime_value(static: tuple, shape: tuple, target: tuple) -> None:
    """Only dims of static size 1 broadcast, so the gradient's sums are fixed at build time."""
    aligned = target[len(target) - len(shape) :]
    if any(s != 1 and n != t for s, n, t in zip(static, shape, aligned, strict=True)):
        raise ValueError(
            f"shape mismatch: a value of shape {shape} cannot be broadcast to the indexed shape "
            f"{target} (only dimensions declared with static size 1 broadcast)"
        )


# ---------------------------------------------------------------------------
# User functions


def _update(y, value, set_instead_of_inc: bool, what: str):
    """Recover ``x`` and the index from ``y = x[index]`` and build the update."""
    owner = getattr(y, "owner", None)
    if owner is None or not isinstance(owner.op, _IndexOp):
        described = y.label() if isinstance(y, Variable) else repr(y)
        raise TypeError(
            f"{what}: the first argument must be an indexing expression such as x[1:3] or x[idx]. "
            f"Received: {described}"
        )
    x, *index_inputs = owner.inputs
    value = _value_for(x, value, set_instead_of_inc, what)
    return IncSubtensor(owner.op.index, set_instead_of_inc)(x, value, *index_inputs)


def _value_for(x: Variable, value, set_instead_of_inc: bool, what: str) -> Variable:
    """``value`` in ``x``'s dtype.

    Set casts as NumPy's assignment does; inc needs NumPy's same-kind cast.
    """
    _, value = elemwise_inputs([x, value])
    if not set_instead_of_inc and not np.can_cast(value.dtype, x.dtype, "same_kind"):
        raise TypeError(
            f"{what}: cannot add a value of dtype {value.dtype} to a tensor of dtype {x.dtype} "
            "(NumPy's 'same_kind' rule); cast the value first"
        )
    return cast(value, x.dtype)


def set_subtensor(y, value):
    """A copy of ``x`` with ``x[index] = value``, where ``y = x[index]``."""
    return _update(y, value, True, "set_subtensor")


def inc_subtensor(y, value):
    """A copy of ``x`` with ``value`` added at ``x[index]``, where ``y = x[index]``.

    Repeated advanced indices accumulate, as with ``np.add.at``.
    """
    return _update(y, value, False, "inc_subtensor")


def take(x, indices, axis=None):
    """NumPy's ``take``: ``axis=None`` indexes the flattened tensor."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = (x if x.ndim == 1 else x.flatten()), 0
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise np.exceptions.AxisError(
            f"take: axis {axis} is out of bounds for a tensor of rank {x.ndim}"
        )
    indices = _index_variable(indices)
    if indices.dtype == "bool":
        indices = cast(indices, "int64")
    return getitem(x, (slice(None),) * (int(axis) % x.ndim) + (indices,))

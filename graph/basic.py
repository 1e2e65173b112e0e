"""Graph structure: variables are the edges, Apply nodes the vertices.

````Apply(op, inputs, outputs)`` records one application of an op.  Each
variable knows its ``owner`` (the Apply that computes it, or None for graph
inputs), its position among the owner's outputs, an optional name and its
*trace*: the user's source lines (``file:line``) where it was written, so
errors found later can point back to the user's code.  A variable or node
made by the user has one line; one that rewriting made in place of others
(``FunctionGraph.replace``, fusion) inherits theirs, so a fused node has the
lines of every expression it computes.

All traversals here are iterative: deep graphs (long chains of layers, an
unrolled loop) never hit Python's recursion limit.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
from collections.abc import Iterable, Sequence

import numpy as np

from theanine import graph
from theanine.graph.type import TensorType, format_shape, tensor_type_of
from theanine.graph.variable import TensorOperators

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL_PREFIXES = tuple(
    os.path.join(_PACKAGE_ROOT, part) + os.sep for part in ("graph", "codegen", "runtime", "frontend")
)
_ids = itertools.count()


@functools.cache
def _is_internal(filename: str) -> bool:
    """Whether code in ``filename`` is theanine's own (memoized: every new node asks, per frame)."""
    path = os.path.abspath(filename)
    in_root_package = os.path.dirname(path) == _PACKAGE_ROOT  # an installed theanine/__init__.py
    return path.startswith(_INTERNAL_PREFIXES) or in_root_package or filename.startswith("<frozen")


def user_source_line() -> str:
    """Return ``file:line`` of the innermost frame outside theanine's own modules."""
    frame = sys._getframe(1)
    while frame is not None:
        if not _is_internal(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class Traced:
    """Something the user wrote somewhere: ``trace`` holds the lines, ``source`` shows them."""

    trace: tuple[str, ...]

    @property
    def source(self) -> str:
        """``file:line`` where the user wrote this (several, comma-separated, after fusion)."""
        return ", ".join(self.trace)

    @source.setter
    def source(self, value: str) -> None:
        self.trace = (value,)


def merged_trace(items: Iterable[Traced]) -> tuple[str, ...]:
    """The lines of every item, each once, in order of first appearance."""
    return tuple(dict.fromkeys(line for item in items for line in item.trace))


def inherit_trace(node: Apply, trace: tuple[str, ...]) -> None:
    """Give ``node`` and its outputs ``trace`` (a node made by a rewrite in place of others)."""
    node.trace = trace
    for out in node.outputs:
        out.trace = trace


class Tag:
    """A variable's scratchpad (Theano's ``tag``); its ``test_value`` is checked against the type
    (see graph/test_values.py)."""

    def __init__(self, type: TensorType):
        self._type = type

    @property
    def test_value(self):
        if not self.has_test_value():
            raise AttributeError(
                f"this {self._type} variable has no test value; set `x.tag.test_value = <array>`"
            )
        return self._test_value

    @test_value.setter
    def test_value(self, value) -> None:
        self._test_value = self._type.filter(value, "test value")

    def has_test_value(self) -> bool:
        return "_test_value" in self.__dict__

    def copy(self) -> Tag:
        new = Tag(self._type)
        new.__dict__.update(self.__dict__)
        return new


def user_stack_level() -> int:
    """``stacklevel`` for a ``warnings.warn`` made by the caller, so that the warning names the
    innermost frame outside theanine (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


class Variable(Traced):
    """An edge of the graph: a value of ``type`` produced by ``owner``."""

    def __init__(self, type: TensorType, owner: Apply | None = None, index: int | None = None,
                 name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.trace = (user_source_line(),)
        self.tag = Tag(type)
        self.id = next(_ids)

    def clone(self) -> Variable:
        """A new ownerless variable of the same type, name, source line and tag (copied)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.owner, new.index, new.id, new.tag = None, None, next(_ids), self.tag.copy()
        return new

    def __repr__(self) -> str:
        return self.label()

    def label(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            suffix = f".{self.index}" if len(self.owner.outputs) > 1 else ""
            return f"{self.owner.op}{suffix}"
        return f"<{self.type}>"

    def eval(self, inputs: dict | None = None):
        """Evaluate with the NumPy reference interpreter (for interactive use)."""
        return graph.evaluate.evaluate([self], inputs or {})[0]


class TensorVariable(TensorOperators, Variable):
    """A symbolic tensor with NumPy-like operators and methods."""

    __array_priority__ = 1000

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        return self.type.shape


class Constant(TensorVariable):
    """A variable holding a fixed, read-only value."""

    def __init__(self, value, name: str | None = None, type: TensorType | None = None):
        data = np.array(value, copy=True)
        data.setflags(write=False)
        super().__init__(type or tensor_type_of(data), name=name)
        self.data = data

    def signature(self) -> tuple:
        """Hashable identity used by merging: equal constants are one constant."""
        if self.data.dtype.kind == "O":  # strings: their values, not the objects' addresses
            return (self.type, tuple(self.data.ravel().tolist()))
        return (self.type, self.data.tobytes())

    def clone(self) -> Constant:
        return self

    def label(self) -> str:
        if self.name:
            return self.name
        if self.data.size <= 8:
            text = np.array2string(self.data, separator=", ", threshold=8)
            return f"Constant{{{text}}}"
        return f"Constant{{{self.data.dtype}{format_shape(self.data.shape)}}}"


class Apply(Traced):
    """One application of ``op`` to ``inputs`` producing ``outputs``."""

    def __init__(self, op, inputs: Sequence[Variable], output_types: Sequence[TensorType],
                 output_names: Sequence[str | None] | None = None):
        self.op = op
        self.inputs = list(inputs)
        names = output_names or [None] * len(output_types)
        self.outputs = [
            TensorVariable(t, owner=self, index=i, name=n)
            for i, (t, n) in enumerate(zip(output_types, names, strict=True))
        ]
        self.trace = self.outputs[0].trace if self.outputs else (user_source_line(),)

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(v.label() for v in self.inputs)})"

    def default_output(self) -> Variable | list[Variable]:
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    def clone_with_new_inputs(self, inputs: Sequence[Variable]) -> Apply:
        """Rebuild this node on ``inputs`` through the op's own type checks (and its test values,
        when they are on: graph/test_values.py)."""
        node = self.op.apply(*inputs)
        for old, new in zip(self.outputs, node.outputs, strict=False):
            new.name, new.trace = old.name, old.trace
        node.trace = self.trace
        return node

    def describe_failure(self, values: Sequence) -> str:
        """Text naming this node, its input shapes/dtypes and the user's line."""
        shapes = ", ".join(
            f"{getattr(v, 'dtype', type(v).__name__)}{format_shape(np.shape(v))}" for v in values
        )
        return f"{self.op} on inputs [{shapes}], created at {self.source}"


def topological_order(roots: Iterable, parents) -> list:
    """Every item reachable from ``roots`` through ``parents(item)``, each after its parents.

    An iterative depth-first walk (deep graphs never hit the recursion
    limit); shared items appear once; the order is deterministic.
    """
    order: list = []
    done: set[int] = set()
    stack = [(root, False) for root in reversed(list(roots))]
    while stack:
        item, expanded = stack.pop()
        if id(item) in done:
            continue
        if expanded:
            done.add(id(item))
            order.append(item)
            continue
        stack.append((item, True))
        stack.extend((parent, False) for parent in reversed(list(parents(item))) if id(parent) not in done)
    return order


def apply_nodes(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Apply]:
    """All Apply nodes computing ``outputs``, in a deterministic topological order.

    Traversal does not continue past variables in ``stop``.
    """
    stop_ids = {id(v) for v in stop}

    def owners(variables: Iterable[Variable]) -> list[Apply]:
        return [v.owner for v in variables if v.owner is not None and id(v) not in stop_ids]

    return topological_order(owners(outputs), lambda node: owners(node.inputs))


def ancestors(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Variable]:
    """Every variable that ``outputs`` depend on, including themselves, in order."""
    outputs = list(outputs)
    seen: dict[int, Variable] = {}
    for node in apply_nodes(outputs, stop):
        for var in itertools.chain(node.inputs, node.outputs):
            seen.setdefault(id(var), var)
    for var in outputs:
        seen.setdefault(id(var), var)
    return list(seen.values())


def graph_inputs(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Variable]:
    """The ownerless variables (inputs, shared variables, constants) of a graph."""
    stop_ids = {id(v) for v in stop}
    return [v for v in ancestors(outputs, stop) if v.owner is None or id(v) in stop_ids]


def clone_replace(outputs: Sequence[Variable], replace: dict[Variable, Variable] | None = None,
                  strict: bool = True) -> list[Variable]:
    """Copy the graph of ``outputs`` with some variables substituted.

    Every node between the replaced variables and the outputs is rebuilt
    through ``make_node`` so types are checked again; ``strict`` requires
    each replacement to have exactly the type of what it replaces.
    """
    replace = dict(replace or {})
    for old, new in replace.items():
        if strict and old.type != new.type:
            raise TypeError(
                f"cannot replace {old.label()} of type {old.type} by {new.label()} of type {new.type}"
            )
    memo: dict[int, Variable] = {id(k): v for k, v in replace.items()}
    for node in apply_nodes(outputs, stop=replace.keys()):
        new_inputs = [memo.get(id(v), v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs, strict=False)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs)
        for old, new in zip(node.outputs, new_node.outputs, strict=False):
            memo[id(old)] = new
    return [memo.get(id(v), v) for v in outputs]


def clone_graph(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> tuple[list[Variable], list[Variable]]:
    """A private copy of the subgraph between ``inputs`` and ``outputs``.

    Constants and shared variables outside ``inputs`` are kept (they are
    values, not positions); every Apply node is copied.
    """
    memo: dict[int, Variable] = {id(v): v.clone() for v in inputs}
    for node in apply_nodes(outputs, stop=inputs):
        new_inputs = [memo.get(id(v), v) for v in node.inputs]
        new_node = Apply(node.op, new_inputs, [o.type for o in node.outputs])
        new_node.trace = node.trace
        for old, new in zip(node.outputs, new_node.outputs, strict=False):
            new.name, new.trace = old.name, old.trace
            memo[id(old)] = new
    return [memo[id(v)] for v in inputs], [memo.get(id(v), v) for v in outputs]


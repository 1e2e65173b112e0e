"""Node rewriters: named, pure functions ``node -> replacement outputs | None``.

A node rewriter looks at one Apply node and either declines (returns None)
or returns one replacement variable per output of the node (None in that
list keeps an output as it is).  It never mutates the graph: the driver does
the replacing, through the FunctionGraph, which validates every type.

Two ways to write one:

- ``@node_rewriter([ops...])`` over a function ``fn(node)``;
- ``PatternRewriter(in_pattern, out_pattern)`` for the common declarative
  case, e.g. ``PatternRewriter((LOG, (Softmax, "x")), lambda b: log_softmax(b["x"]))``.

What a rewriter *tracks* decides which nodes the driver shows it: an ``Op``
instance (matched by ``==``), an ``Op`` subclass (``isinstance``), a
``ScalarOp`` instance or subclass (matches ``Elemwise`` nodes over it), or
nothing (``tracks=None``: every node).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.fgraph import replacement_type_problem
from theanine.graph.op import Op
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.rewriting.utils import uniform_constant

__all__ = ["NodeRewriter", "node_rewriter", "PatternRewriter", "RewriterIndex", "COMMUTATIVE"]

COMMUTATIVE = frozenset(
    {
        "add",
        "multiply",
        "maximum",
        "minimum",
        "equal",
        "not_equal",
        "logical_and",
        "logical_or",
        "logical_xor",
    }
)
"""Names of the two-input scalar ops whose operands patterns may match in either order."""


class NodeRewriter:
    """A named rewrite of one node; see the module docstring for the contract."""

    def __init__(
        self,
        fn: Callable[..., Any],
        tracks: Iterable | None,
        name: str | None = None,
        reads_clients: bool = False,
    ):
        self.fn = fn
        self.name = name or fn.__name__
        self.tracks = None if tracks is None else tuple(tracks)
        self.reads_clients = reads_clients
        self.__doc__ = fn.__doc__

    def __repr__(self) -> str:
        return f"NodeRewriter({self.name})"

    def transform(self, node: Apply, fgraph=None) -> list[Variable | None] | None:
        """The replacements for ``node``'s outputs, or None when the rewrite does not apply.

        A rewriter made with ``reads_clients=True`` is called as ``fn(node, fgraph)``: it may
        look at who reads a variable (e.g. fuse a product into its only reader), never change it.
        """
        if self.reads_clients:
            if fgraph is None:
                return None
            result = self.fn(node, fgraph)
        else:
            result = self.fn(node)
        if result is None:
            return None
        if isinstance(result, Variable):
            result = [result]
        result = list(result)
        if len(result) != len(node.outputs):
            raise ValueError(
                f"rewrite {self.name!r} returned {len(result)} replacement(s) for {node}, "
                f"which has {len(node.outputs)} output(s)"
            )
        return result


def node_rewriter(
    tracks: Iterable | None, name: str | None = None, reads_clients: bool = False
) -> Callable[[Callable], NodeRewriter]:
    """Decorator: ``@node_rewriter([ELEMWISE_OPS["mul"]])`` turns ``fn(node)`` into a NodeRewriter
    (``fn(node, fgraph)`` with ``reads_clients=True``)."""

    def wrap(fn: Callable) -> NodeRewriter:
        return NodeRewriter(fn, tracks, name, reads_clients)

    return wrap


def op_matches(spec, op: Op) -> bool:
    """Does ``op`` match a track/pattern spec (op, op class, scalar op or scalar op class)?"""
    if isinstance(spec, type):
        if issubclass(spec, ScalarOp):
            return isinstance(op, Elemwise) and isinstance(op.scalar_op, spec)
        return isinstance(op, spec)
    if isinstance(spec, ScalarOp):
        return isinstance(op, Elemwise) and op.scalar_op == spec
    return op == spec


class RewriterIndex:
    """Which rewriters of a list track a given op, in list order; memoized per op."""

    def __init__(self, rewriters: Sequence[NodeRewriter]):
        self.rewriters = list(rewriters)
        self._memo: dict[Op, list[NodeRewriter]] = {}

    def for_op(self, op: Op) -> list[NodeRewriter]:
        found = self._memo.get(op)
        if found is None:
            found = [
                r
                for r in self.rewriters
                if r.tracks is None or any(op_matches(s, op) for s in r.tracks)
            ]
            self._memo[op] = found
        return found


# ---------------------------------------------------------------------------- patterns


def _is_commutative(op: Op) -> bool:
    return isinstance(op, Elemwise) and op.scalar_op.nin == 2 and op.scalar_op.name in COMMUTATIVE


def _constant_equals(var: Variable, value) -> bool:
    found = uniform_constant(var)
    return found is not None and bool(found == value)


def match_pattern(
    pattern, var: Variable, bindings: dict[str, Variable]
) -> dict[str, Variable] | None:
    """Bindings extended so that ``var`` matches ``pattern``, or None.

    A pattern is a name (binds any variable; a repeated name must bind the
    same variable), a number (a constant, possibly under DimShuffles, whose
    every element equals it), or
    a tuple ``(op_spec, *argument_patterns)``.
    """
    if isinstance(pattern, str):
        bound = bindings.get(pattern)
        if bound is None:
            return {**bindings, pattern: var}
        return bindings if bound is var else None
    if isinstance(pattern, (int, float, bool, np.number)):
        return bindings if _constant_equals(var, pattern) else None
    spec, *arguments = pattern
    node = var.owner
    if node is None or not op_matches(spec, node.op) or len(arguments) != len(node.inputs):
        return None
    orders = [node.inputs]
    if _is_commutative(node.op):
        orders.append(node.inputs[::-1])
    for inputs in orders:
        found = _match_all(arguments, inputs, bindings)
        if found is not None:
            return found
    return None


def _match_all(patterns: Sequence, variables: Sequence[Variable], bindings: dict) -> dict | None:
    for pattern, var in zip(patterns, variables, strict=True):
        bindings = match_pattern(pattern, var, bindings)
        if bindings is None:
            return None
    return bindings


def build_pattern(pattern, bindings: dict[str, Variable]) -> Variable:
    """The variable an output pattern describes: names, numbers, ``(op, *args)`` or a callable."""
    if callable(pattern) and not isinstance(pattern, (Op, ScalarOp)):
        return pattern(bindings)
    if isinstance(pattern, str):
        return bindings[pattern]
    if isinstance(pattern, (int, float, bool, np.number)):
        return pattern
    op, *arguments = pattern
    if isinstance(op, ScalarOp):
        op = Elemwise(op)
    return op(*[build_pattern(a, bindings) for a in arguments])


class PatternRewriter(NodeRewriter):
    """Replace what matches ``in_pattern`` by what ``out_pattern`` builds from the bindings.

    The outermost op of ``in_pattern`` is what the rewriter tracks.  A
    replacement whose type may not stand in for the matched variable (e.g.
    a pattern constant that was broadcasting the result to a larger shape)
    is declined rather than applied.
    """

    def __init__(self, in_pattern: tuple, out_pattern, name: str | None = None):
        self.in_pattern = in_pattern
        self.out_pattern = out_pattern
        super().__init__(self._rewrite, [in_pattern[0]], name or f"pattern {_describe(in_pattern)}")

    def _rewrite(self, node: Apply) -> list[Variable] | None:
        if len(node.outputs) != 1:
            return None
        (out,) = node.outputs
        bindings = match_pattern(self.in_pattern, out, {})
        if bindings is None:
            return None
        new = build_pattern(self.out_pattern, bindings)
        if not isinstance(new, Variable) or replacement_type_problem(out.type, new.type):
            return None
        return [new]


def _describe(pattern) -> str:
    if isinstance(pattern, tuple):
        spec, *arguments = pattern
        head = spec.__name__ if isinstance(spec, type) else str(spec)
        return f"{head}({', '.join(_describe(a) for a in arguments)})"
    return str(pattern)

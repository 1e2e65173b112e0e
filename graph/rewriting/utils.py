"""Small helpers shared by the rewrite modules: constants, op lookups, type guards."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.math import ELEMWISE_OPS, negative
from theanine.graph.ops.shape import DimShuffle

__all__ = [
    "elemwise_op", "uniform_constant", "is_elemwise", "same_type", "typed_constant", "sole_reader",
    "same_expression", "negated",
]

SAME_EXPRESSION_BUDGET = 16
"""How many node pairs ``same_expression`` compares before it answers "not known to be equal"."""


def elemwise_op(name: str) -> Elemwise:
    """The Elemwise op of the table row ``name`` (e.g. ``"log"``)."""
    return ELEMWISE_OPS[name]


def uniform_constant(var: Variable):
    """The value every element of ``var`` holds when it is a constant (seen through
    DimShuffles) whose elements are all equal; None otherwise."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    if not isinstance(var, Constant) or var.data.size == 0:
        return None
    first = var.data.flat[0]
    if var.data.size > 1 and not np.all(var.data == first):
        return None
    return first


def is_elemwise(var: Variable, name: str) -> bool:
    """Is ``var`` computed by the Elemwise table row ``name``?"""
    return var.owner is not None and var.owner.op == ELEMWISE_OPS[name]


def same_type(a: Variable, b: Variable) -> bool:
    """Can ``b`` replace ``a`` without any change of type (dtype and static shape equal)?"""
    return a.type == b.type


def typed_constant(value, dtype: str) -> Constant:
    """A rank-0 constant of ``dtype``."""
    return Constant(np.asarray(value, dtype=dtype))


def sole_reader(fgraph, var: Variable, node) -> bool:
    """Is ``node`` the only reader of ``var`` in ``fgraph`` (it may read it at several inputs)?"""
    readers = fgraph.clients.get(var, [])
    return bool(readers) and all(reader is node for reader, _ in readers)


def same_expression(a: Variable, b: Variable) -> bool:
    """Do ``a`` and ``b`` compute the same value by the same formula?

    True for one variable, equal constants, and outputs of equal deterministic
    ops over inputs that are the same expression, compared pair by pair up to
    ``SAME_EXPRESSION_BUDGET`` nodes (rewrites build twins that the merge pass
    only unites at the end of a phase, e.g. two ``sigmoid(-x)``).
    """
    pending = [(a, b)]
    budget = SAME_EXPRESSION_BUDGET
    while pending:
        x, y = pending.pop()
        if x is y:
            continue
        if isinstance(x, Constant) and isinstance(y, Constant):
            if x.signature() != y.signature():
                return False
            continue
        if x.owner is None or y.owner is None or x.index != y.index or x.owner.op != y.owner.op:
            return False
        if len(x.owner.inputs) != len(y.owner.inputs):
            return False
        budget -= 1
        if budget < 0 or not getattr(x.owner.op, "deterministic", True):
            return False
        pending.extend(zip(x.owner.inputs, y.owner.inputs, strict=True))
    return True


def negated(x: Variable) -> Variable:
    """``-x``, unwrapping a negation instead of stacking a second one."""
    if is_elemwise(x, "negative"):
        return x.owner.inputs[0]
    return negative(x)

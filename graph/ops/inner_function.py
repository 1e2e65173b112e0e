"""``InnerFunction``: an inner graph prepared once, run many times.

Ops that hold a graph of their own and run it repeatedly (``Scan`` runs its
step once per iteration, ``IfElse`` one branch per call) cannot afford the
reference interpreter's per-call walk of the graph.  An InnerFunction
orders the nodes once, gives every variable a slot in a flat list and keeps
the constants' values in it; a call then only calls each op's ``perform``.

It is the NumPy reference semantics all the same (every node runs its own
``perform``), so whatever backend runs the outer graph, the inner graph
means what the reference interpreter says.  ``graph`` may not import a
backend (DESIGN.md), which is why the loop is run here and not compiled.

A failing node raises its own exception type with the node's story
(op, input shapes, the user's line), as the reference interpreter does.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph.basic import Constant, Variable, apply_nodes
from theanine.graph.evaluate import annotate_error

__all__ = ["InnerFunction"]


class InnerFunction:
    """``fn(values) -> outputs`` for the graph from ``inputs`` to ``outputs``.

    Every ownerless variable the outputs depend on must be among ``inputs``
    or be a constant; anything else is a ValueError that names it.
    """

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        slot = {id(v): i for i, v in enumerate(inputs)}
        self.n_inputs = len(inputs)
        self._tail: list = []
        self._steps: list = []
        for node in apply_nodes(outputs, stop=inputs):
            args = [self._slot_of(v, slot, node) for v in node.inputs]
            outs = [self._new_slot(v, slot) for v in node.outputs]
            self._steps.append((node.op.perform, node, args, outs))
        self._outputs = [self._slot_of(v, slot, None) for v in outputs]
        self.nodes = [step[1] for step in self._steps]

    def _new_slot(self, var: Variable, slot: dict, value=None) -> int:
        slot[id(var)] = self.n_inputs + len(self._tail)
        self._tail.append(value)
        return slot[id(var)]

    def _slot_of(self, var: Variable, slot: dict, node) -> int:
        if id(var) in slot:
            return slot[id(var)]
        if isinstance(var, Constant):
            return self._new_slot(var, slot, var.data)
        where = f" (read by {node.op}, created at {node.source})" if node is not None else ""
        raise ValueError(
            f"an inner graph reads {var.label()} of type {var.type}{where}, which is neither an input "
            "of the inner graph nor a constant"
        )

    def __call__(self, values: Sequence) -> list:
        storage = list(values)
        storage.extend(self._tail)
        for perform, node, args, outs in self._steps:
            arguments = [storage[i] for i in args]
            try:
                results = perform(node, arguments)
            except Exception as exc:
                raise annotate_error(exc, node, arguments) from exc
            for i, value in zip(outs, results, strict=True):
                storage[i] = value
        return [storage[i] for i in self._outputs]

"""``Composite``: a scalar op defined by an inner graph of elementwise ops.

Fusion turns a DAG of ``Elemwise`` nodes of one shape into one
``Elemwise(Composite(...))`` node, so a backend emits one loop nest for
the whole DAG.  The inner graph is made of ``Elemwise`` nodes over rank-0
tensor variables (its free inputs) and rank-0 constants; it may have
several outputs.

- ``impl`` evaluates the inner graph with NumPy on whole arrays (each inner
  op's own implementation, each result cast to its declared dtype, exactly
  as the unfused nodes would);
- the gradient is the reverse-mode gradient through the inner graph;
- equality and hashing are by the inner graph's structure (ops, wiring,
  dtypes, constant values), so merge and caches see equal composites as equal;
- ``inner_graphs()`` exposes ``(inputs, outputs)`` for printing;
  ``map_inner`` folds the inner graph for code generators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, apply_nodes, clone_replace
from theanine.graph.gradient import grad
from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.test_values import stand_in
from theanine.graph.type import is_discrete

__all__ = ["Composite"]

_NAME_LIMIT = 120


class Composite(ScalarOp):
    """A scalar op whose body is the graph from ``inputs`` to ``outputs`` (all rank 0)."""

    __props__ = ("signature",)

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.nodes = apply_nodes(self.outputs, stop=self.inputs)
        _check_inner_graph(self.inputs, self.outputs, self.nodes)
        self.signature = _signature(self.inputs, self.outputs, self.nodes)
        super().__init__(
            _describe(self.inputs, self.outputs, self.nodes),
            len(self.inputs),
            self._evaluate,
            self._gradient,
            nout=len(self.outputs),
        )

    def inner_graphs(self) -> list[tuple[list[Variable], list[Variable]]]:
        return [(self.inputs, self.outputs)]

    def output_dtypes(self, input_dtypes: Sequence[str]) -> list[str]:
        expected = [v.dtype for v in self.inputs]
        if list(input_dtypes) != expected:
            raise TypeError(
                f"{self.name} takes inputs of dtypes {expected}. Received: {list(input_dtypes)}"
            )
        return [v.dtype for v in self.outputs]

    def map_inner(self, args: Sequence, constant: Callable, apply: Callable) -> list:
        """Fold the inner graph: ``args`` stand for the inputs, ``constant(value, dtype)`` for
        constants, ``apply(scalar_op, arg_values, out_dtypes) -> list`` for each node; returns
        one value per output.  ``impl`` is this fold with NumPy; code generators build
        expressions with it."""
        values: dict[Variable, object] = dict(zip(self.inputs, args, strict=True))

        def value_of(var: Variable):
            if var not in values:
                values[var] = constant(var.data, var.dtype)
            return values[var]

        for node in self.nodes:
            results = apply(
                node.op.scalar_op,
                [value_of(v) for v in node.inputs],
                [o.dtype for o in node.outputs],
            )
            values.update(zip(node.outputs, results, strict=True))
        return [value_of(v) for v in self.outputs]

    def _evaluate(self, *arrays):
        results = self.map_inner(arrays, lambda value, dtype: value, _numpy_apply)
        return tuple(results) if len(results) > 1 else results[0]

    def _gradient(self, inputs, outputs, gouts):
        """Reverse mode through the inner graph, rebuilt on stand-ins for the outer inputs."""
        stand_ins = [stand_in(x) for x in inputs]
        rebuilt = clone_replace(self.outputs, dict(zip(self.inputs, stand_ins, strict=True)), strict=False)
        known = {o: g for o, g in zip(rebuilt, gouts, strict=True) if g is not None and not is_discrete(o.dtype)}
        wrt = [s for s in stand_ins if not is_discrete(s.dtype)]
        if not known or not wrt:
            return [None] * len(inputs)
        grads = dict(zip(wrt, grad(None, wrt, known_grads=known, disconnected_inputs="ignore"), strict=True))
        found = [grads.get(s) for s in stand_ins]
        back = dict(zip(stand_ins, inputs, strict=True))
        present = [g for g in found if g is not None]
        restored = iter(clone_replace(present, back, strict=False))
        return [None if g is None else next(restored) for g in found]


def _numpy_apply(scalar_op: ScalarOp, args: Sequence, out_dtypes: Sequence[str]) -> list:
    result = scalar_op.impl(*args)
    results = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r, dtype=d) for r, d in zip(results, out_dtypes, strict=True)]


def _check_inner_graph(
    inputs: Sequence[Variable], outputs: Sequence[Variable], nodes: Sequence[Apply]
) -> None:
    for var in list(inputs) + list(outputs):
        if var.ndim != 0:
            raise TypeError(
                f"Composite: inner inputs and outputs must be rank 0. Received: {var.label()} of type {var.type}"
            )
    for var in inputs:
        if var.owner is not None:
            raise TypeError(f"Composite: inner input {var.label()} must be a free variable")
    known = set(inputs)
    for node in nodes:
        if not isinstance(node.op, Elemwise):
            raise TypeError(
                f"Composite: the inner graph may only hold Elemwise nodes. Received: {node}"
            )
        for var in node.inputs:
            if var.owner is None and var not in known and not isinstance(var, Constant):
                raise TypeError(
                    f"Composite: the inner graph reads {var.label()}, which is not one of its inputs"
                )


def _signature(
    inputs: Sequence[Variable], outputs: Sequence[Variable], nodes: Sequence[Apply]
) -> tuple:
    """The inner graph's structure as a hashable value: dtypes, ops, wiring, constants."""
    keys: dict[Variable, tuple] = {v: ("input", i) for i, v in enumerate(inputs)}

    def key(var: Variable) -> tuple:
        if var not in keys:
            keys[var] = ("constant", var.dtype, var.data.tobytes())
        return keys[var]

    body = []
    for n, node in enumerate(nodes):
        body.append((node.op.scalar_op, tuple(key(v) for v in node.inputs)))
        for i, out in enumerate(node.outputs):
            keys[out] = ("node", n, i, out.dtype)
    return (tuple(v.dtype for v in inputs), tuple(body), tuple(key(v) for v in outputs))


def _describe(
    inputs: Sequence[Variable], outputs: Sequence[Variable], nodes: Sequence[Apply]
) -> str:
    """``Composite{add(mul(i0, i1), 2.0)}``; long bodies are summarized by their node count."""
    text: dict[Variable, str] = {v: f"i{i}" for i, v in enumerate(inputs)}

    def show(var: Variable) -> str:
        if var not in text:
            text[var] = str(var.data.item())
        return text[var]

    for node in nodes:
        call = f"{node.op.scalar_op.name}({', '.join(show(v) for v in node.inputs)})"[
            : _NAME_LIMIT + 1
        ]
        for i, out in enumerate(node.outputs):
            text[out] = call if len(node.outputs) == 1 else f"{call}[{i}]"
    body = ", ".join(show(v) for v in outputs)
    if len(body) > _NAME_LIMIT:
        body = f"{len(nodes)} nodes, {len(inputs)} inputs, {len(outputs)} outputs"
    return f"Composite{{{body}}}"

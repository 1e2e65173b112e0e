"""``OpFromGraph``: a user-defined op whose meaning is a graph of other ops.

``op = th.OpFromGraph([x, y], [x * y + 1], name="fma1")`` copies the graph
between ``inputs`` and ``outputs`` privately; ``op(a, b)`` applies it to new
variables of the same types.  The op is an ordinary node of the outer
graph: ``perform`` runs the inner graph with the reference interpreter,
``infer_shape`` walks the inner ops' shape rules, and the gradient and
forward derivative are themselves ``OpFromGraph`` ops built from the inner
graph (so a model's gradient keeps the same compact structure).

Decisions:

- Shared variables read by the inner graph become *implicit inputs*: they
  are appended, in order of appearance, to the explicit inputs of every
  node (``op.implicit_inputs``), so the outer function reads their current
  values and their updates work as usual.  Any other free variable is an
  error that names it.
- Two ops built from structurally identical graphs (same ops, same
  constants, same input types, same wiring) are equal and hash alike,
  whatever their ``name``, so the merge pass can share them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import (
    Apply,
    Constant,
    TensorVariable,
    Variable,
    apply_nodes,
    clone_graph,
    clone_replace,
    graph_inputs,
)
from theanine.graph.evaluate import evaluate
from theanine.graph.gradient import Rop, grad
from theanine.graph.op import Op
from theanine.graph.ops.creation import zeros_like
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.test_values import without_test_values
from theanine.graph.type import is_discrete, is_float

__all__ = ["OpFromGraph"]


def _as_variable_list(values, what: str) -> list[Variable]:
    items = list(values) if isinstance(values, (list, tuple)) else [values]
    for i, item in enumerate(items):
        if not isinstance(item, Variable):
            raise TypeError(f"OpFromGraph: {what}[{i}] must be a symbolic variable. Received: {type(item).__name__}")
    return items


def _implicit_inputs(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> list[SharedVariable]:
    """Shared variables the graph reads besides ``inputs``; any other free variable is an error."""
    explicit = {id(v) for v in inputs}
    implicit = []
    for var in graph_inputs(outputs, stop=inputs):
        if id(var) in explicit or isinstance(var, Constant):
            continue
        if isinstance(var, SharedVariable):
            implicit.append(var)
            continue
        raise ValueError(
            f"OpFromGraph: the outputs depend on {var.label()} of type {var.type} (created at {var.source}), "
            "which is not among the inputs; add it to the inputs"
        )
    return implicit


def _private_copy(inputs: Sequence[Variable], outputs: Sequence[Variable]):
    """Fresh placeholder inputs (even for shared variables) and a private copy of every node
    (a definition: no test values)."""
    placeholders = [TensorVariable(v.type, name=v.name) for v in inputs]
    with without_test_values():
        rewired = clone_replace(outputs, dict(zip(inputs, placeholders, strict=True)))
    return clone_graph(placeholders, rewired)


def _structure(inner_inputs: Sequence[Variable], inner_outputs: Sequence[Variable]) -> tuple:
    """A hashable description of the graph: input types, each node's op and wiring, outputs."""
    where: dict[int, tuple] = {id(v): ("input", i) for i, v in enumerate(inner_inputs)}

    def ref(var: Variable) -> tuple:
        return ("constant", var.signature()) if isinstance(var, Constant) else where[id(var)]

    nodes = []
    for k, node in enumerate(apply_nodes(inner_outputs, stop=inner_inputs)):
        nodes.append((node.op, tuple(ref(v) for v in node.inputs), tuple(o.type for o in node.outputs)))
        for j, out in enumerate(node.outputs):
            where[id(out)] = ("node", k, j)
    return (tuple(v.type for v in inner_inputs), tuple(nodes), tuple(ref(v) for v in inner_outputs))


class OpFromGraph(Op):
    """An op defined by the graph from ``inputs`` to ``outputs``; see the module docstring."""

    __props__ = ("signature",)

    def __init__(self, inputs: Sequence[Variable], outputs, name: str | None = None):
        inputs = _as_variable_list(inputs, "inputs")
        outputs = [as_tensor_variable(o) for o in _as_variable_list(outputs, "outputs")]
        for i, var in enumerate(inputs):
            if isinstance(var, Constant):
                raise TypeError(f"OpFromGraph: inputs[{i}] is a constant; constants belong inside the graph")
        if len({id(v) for v in inputs}) != len(inputs):
            repeated = [i for i, v in enumerate(inputs) if any(v is w for w in inputs[:i])]
            raise ValueError(f"OpFromGraph: each input must be listed once. Received: a repeat at inputs{repeated}")
        self.name = name or "OpFromGraph"
        self.n_explicit = len(inputs)
        self.implicit_inputs = _implicit_inputs(inputs, outputs)
        self.inner_inputs, self.inner_outputs = _private_copy(inputs + self.implicit_inputs, outputs)
        self.signature = _structure(self.inner_inputs, self.inner_outputs)
        self._hash = hash((type(self), self.signature))
        self._derivative_ops: dict[str, tuple] = {}

    def __hash__(self) -> int:
        return self._hash

    @property
    def view_map(self) -> dict[int, list[int]]:
        """An inner output may be an inner input itself (or a view of one): any output may
        alias any input, which is what the destroy handler must assume."""
        return {i: list(range(len(self.inner_inputs))) for i in range(len(self.inner_outputs))}

    def __str__(self) -> str:
        return f"OpFromGraph{{{self.name}}}"

    __repr__ = __str__

    def inner_graphs(self):
        return [(self.inner_inputs, self.inner_outputs)]

    def make_node(self, *inputs) -> Apply:
        if len(inputs) == self.n_explicit:
            inputs = tuple(inputs) + tuple(self.implicit_inputs)
        if len(inputs) != len(self.inner_inputs):
            raise TypeError(
                f"{self} takes {self.n_explicit} input(s) (plus {len(self.implicit_inputs)} implicit shared "
                f"variable(s)). Received: {len(inputs)}"
            )
        converted = [self._check_input(i, v) for i, v in enumerate(inputs)]
        return Apply(self, converted, [o.type for o in self.inner_outputs])

    def _check_input(self, index: int, value) -> Variable:
        inner = self.inner_inputs[index]
        var = value if isinstance(value, Variable) else as_tensor_variable(value, dtype=inner.dtype)
        if var.dtype != inner.dtype or not inner.type.shape_compatible(var.type):
            raise TypeError(
                f"{self}: input {index} must have type {inner.type}. "
                f"Received: {var.label()} of type {var.type}"
            )
        return var

    def perform(self, node, inputs):
        for index, (inner, value) in enumerate(zip(self.inner_inputs, inputs, strict=True)):
            problem = inner.type.check_value_shape(np.shape(value))
            if problem:
                raise ValueError(f"{self}: input {index} ({inner.label()}): {problem}")
        results = evaluate(self.inner_outputs, dict(zip(self.inner_inputs, inputs, strict=True)))
        return [
            np.array(r, dtype=o.dtype) if isinstance(o, Constant) else np.asarray(r, dtype=o.dtype)
            for r, o in zip(results, self.inner_outputs, strict=True)
        ]

    def infer_shape(self, node, input_shapes):
        """Run the inner ops' shape rules, then rewire inner variables onto the node's inputs."""
        shapes: dict[int, tuple] = {id(v): tuple(s) for v, s in zip(self.inner_inputs, input_shapes, strict=True)}
        for inner_node in apply_nodes(self.inner_outputs, stop=self.inner_inputs):
            in_shapes = [_known_shape(v, shapes) for v in inner_node.inputs]
            for out, shape in zip(inner_node.outputs, inner_node.op.infer_shape(inner_node, in_shapes), strict=True):
                shapes[id(out)] = tuple(shape)
        results = [_known_shape(o, shapes) for o in self.inner_outputs]
        return _rewire_shapes(results, dict(zip(self.inner_inputs, node.inputs, strict=True)))

    def connection_pattern(self, node):
        return [list(row) for row in self._dependence()]

    def _dependence(self) -> list[tuple[bool, ...]]:
        """``[i][j]``: does inner output j depend differentiably on inner input i.

        Integer and bool inputs and outputs carry no gradient, so they are never connected.
        """
        nodes = apply_nodes(self.inner_outputs, stop=self.inner_inputs)
        rows = []
        for x in self.inner_inputs:
            reached = set() if is_discrete(x.dtype) else {id(x)}
            for inner_node in nodes:
                pattern = inner_node.op.connection_pattern(inner_node)
                for j, out in enumerate(inner_node.outputs):
                    if any(id(v) in reached and pattern[i][j] for i, v in enumerate(inner_node.inputs)):
                        reached.add(id(out))
            rows.append(tuple(id(o) in reached and is_float(o.dtype) for o in self.inner_outputs))
        return rows

    def _float_outputs(self) -> list[int]:
        return [j for j, o in enumerate(self.inner_outputs) if is_float(o.dtype)]

    def _differentiable_inputs(self) -> list[int]:
        outs = self._float_outputs()
        return [
            i for i, (x, row) in enumerate(zip(self.inner_inputs, self._dependence(), strict=True))
            if is_float(x.dtype) and any(row[j] for j in outs)
        ]

    def _gradient_op(self) -> tuple[OpFromGraph | None, list[int]]:
        """The op ``(inputs, output grads) -> input grads``, built once."""
        if "L" not in self._derivative_ops:
            outs, wrt = self._float_outputs(), self._differentiable_inputs()
            op = None
            if wrt:
                with without_test_values():
                    seeds = [self.inner_outputs[j].type(f"grad_out{j}") for j in outs]
                    known: dict[Variable, Variable] = {}
                    for j, seed in zip(outs, seeds, strict=True):
                        out = self.inner_outputs[j]
                        known[out] = known[out] + seed if out in known else seed
                    grads = grad(None, [self.inner_inputs[i] for i in wrt], known_grads=known,
                                 disconnected_inputs="ignore")
                op = OpFromGraph(list(self.inner_inputs) + seeds, grads, name=f"grad_{self.name}")
            self._derivative_ops["L"] = (op, wrt)
        return self._derivative_ops["L"]

    def L_op(self, inputs, outputs, output_grads):
        op, wrt = self._gradient_op()
        results: list[Variable | None] = [None] * len(inputs)
        if op is None:
            return results
        grads = op.apply(*inputs, *[output_grads[j] for j in self._float_outputs()]).outputs
        for i, g in zip(wrt, grads, strict=True):
            results[i] = g
        return results

    def _forward_op(self) -> tuple[OpFromGraph | None, list[int]]:
        """The op ``(inputs, input tangents) -> output tangents`` of the float outputs, built once."""
        if "R" not in self._derivative_ops:
            outs, wrt = self._float_outputs(), self._differentiable_inputs()
            op = None
            if wrt and outs:
                points = [self.inner_inputs[i].type(f"tangent{i}") for i in wrt]
                with without_test_values():
                    tangents = Rop([self.inner_outputs[j] for j in outs], [self.inner_inputs[i] for i in wrt], points)
                op = OpFromGraph(list(self.inner_inputs) + points, tangents, name=f"rop_{self.name}")
            self._derivative_ops["R"] = (op, wrt)
        return self._derivative_ops["R"]

    def R_op(self, inputs, eval_points):
        op, wrt = self._forward_op()
        results: list[Variable | None] = [None] * len(self.inner_outputs)
        if op is None or all(eval_points[i] is None for i in wrt):
            return results
        points = [eval_points[i] if eval_points[i] is not None else zeros_like(inputs[i]) for i in wrt]
        for j, tangent in zip(self._float_outputs(), op.apply(*inputs, *points).outputs, strict=True):
            results[j] = tangent
        return results


def _known_shape(var: Variable, shapes: dict[int, tuple]) -> tuple:
    """The shape found so far for ``var``, or a constant's own shape."""
    return shapes[id(var)] if id(var) in shapes else tuple(var.data.shape)


def _rewire_shapes(shapes: list[tuple], replace: dict[Variable, Variable]) -> list[tuple]:
    """Shapes whose symbolic entries refer to inner variables, rewritten onto outer ones."""
    symbolic = [d for shape in shapes for d in shape if isinstance(d, Variable)]
    if not symbolic:
        return shapes
    rewired = iter(clone_replace(symbolic, replace, strict=False))
    return [tuple(next(rewired) if isinstance(d, Variable) else d for d in shape) for shape in shapes]

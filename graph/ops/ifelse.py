"""``th.ifelse``: a lazy conditional; only the branch taken is computed.

``th.ifelse(condition, then_branch, else_branch)`` takes a scalar condition
and two variables (or two lists of variables of matching types) and gives
the values of one branch.  It is an ``IfElse`` op holding both branches as
inner graphs over the same inputs; its ``perform`` runs only the one
selected, so every backend is lazy (the compiled backends run the node as a
host call of its ``perform``).

What goes inside a branch.  The nodes a branch needs are moved into its
inner graph, except those the condition needs too (they are computed
anyway, so they stay outside and are inputs of the op).  The graph's
inputs, shared variables and the values computed outside are the op's
inputs.  A random draw inside a branch advances its generator only when the
branch runs: the op has one more output per such generator state (the new
state from the branch that draws, the old one from the other), which
becomes the state's ``default_update``.

Types.  Paired outputs must have the same dtype and rank (a TypeError names
both types otherwise); the result's static size is kept where both agree.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import (
    Apply,
    Constant,
    Variable,
    ancestors,
    apply_nodes,
    clone_graph,
    clone_replace,
    topological_order,
)
from theanine.graph.gradient import Rop, grad
from theanine.graph.op import Op
from theanine.graph.ops.inner_function import InnerFunction
from theanine.graph.ops.math import not_equal
from theanine.graph.ops.opfromgraph import _structure
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.test_values import without_test_values
from theanine.graph.type import TensorType, is_discrete, is_float

__all__ = ["IfElse", "ifelse"]


class IfElse(Op):
    """``cond ? then_outputs : else_outputs``, both inner graphs over ``inner_inputs``.

    Node inputs: ``[condition, *values for inner_inputs]``; one output per pair.
    """

    __props__ = ("signature",)
    takes_strings = True  # moves or selects elements

    def __init__(self, inner_inputs: Sequence[Variable], then_outputs: Sequence[Variable],
                 else_outputs: Sequence[Variable], name: str = "ifelse"):
        self.inner_inputs = list(inner_inputs)
        self.then_outputs, self.else_outputs = list(then_outputs), list(else_outputs)
        self.name = name
        if len(self.then_outputs) != len(self.else_outputs):
            raise ValueError(
                f"ifelse: the branches have {len(self.then_outputs)} and {len(self.else_outputs)} outputs; "
                "they must have as many"
            )
        self.output_types = [_joined_type(i, a.type, b.type)
                             for i, (a, b) in enumerate(zip(self.then_outputs, self.else_outputs, strict=True))]
        self.signature = (_structure(self.inner_inputs, self.then_outputs),
                          _structure(self.inner_inputs, self.else_outputs))
        self._hash = hash((type(self), self.signature))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"IfElse{{{self.name}}}"

    __repr__ = __str__

    def inner_graphs(self):
        return [(self.inner_inputs, self.then_outputs), (self.inner_inputs, self.else_outputs)]

    @functools.cached_property
    def branches(self) -> tuple[InnerFunction, InnerFunction]:
        return InnerFunction(self.inner_inputs, self.then_outputs), InnerFunction(self.inner_inputs, self.else_outputs)

    def make_node(self, condition, *inputs) -> Apply:
        condition = as_tensor_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"{self}: the condition must be a scalar. Received: {condition.type}")
        if len(inputs) != len(self.inner_inputs):
            raise TypeError(f"{self} takes {len(self.inner_inputs) + 1} inputs. Received: {len(inputs) + 1}")
        checked = []
        for i, (inner, value) in enumerate(zip(self.inner_inputs, inputs, strict=True)):
            var = as_tensor_variable(value)
            if var.dtype != inner.dtype or var.ndim != inner.ndim or not inner.type.shape_compatible(var.type):
                raise TypeError(f"{self}: input {i + 1} must have type {inner.type}. Received: {var.type}")
            checked.append(var)
        return Apply(self, [condition, *checked], self.output_types)

    def perform(self, node, inputs):
        condition, *values = inputs
        branch = self.branches[0] if bool(condition) else self.branches[1]
        results = branch(values)
        return [_fresh(r, o.dtype, values) for r, o in zip(results, node.outputs, strict=True)]

    def infer_shape(self, node, input_shapes):
        raise NotImplementedError(f"{self}: its shapes depend on the branch taken")

    def connection_pattern(self, node):
        then_rows = _dependence(self.inner_inputs, self.then_outputs)
        else_rows = _dependence(self.inner_inputs, self.else_outputs)
        rows = [[a or b for a, b in zip(r1, r2, strict=True)] for r1, r2 in zip(then_rows, else_rows, strict=True)]
        return [[False] * len(self.then_outputs)] + rows

    def L_op(self, inputs, outputs, output_grads):
        """An IfElse of the two branches' vector-Jacobian products (zeros for what a branch ignores)."""
        condition, *values = inputs
        wrt = [i for i, v in enumerate(self.inner_inputs) if is_float(v.dtype)]
        seeded = [j for j, o in enumerate(outputs) if is_float(o.dtype)]
        results: list[Variable | None] = [None] * len(inputs)
        if not wrt or not seeded:
            return results
        with without_test_values():
            seeds = [self.then_outputs[j].type(f"g_out{j}") for j in seeded]
            branches = [self._vjp(outs, seeded, seeds, wrt) for outs in (self.then_outputs, self.else_outputs)]
        op = IfElse(self.inner_inputs + seeds, *branches, name=f"grad_{self.name}")
        grads = op.apply(condition, *values, *[output_grads[j] for j in seeded]).outputs
        for i, g in zip(wrt, grads, strict=True):
            results[1 + i] = g
        return results

    def _vjp(self, outputs, seeded, seeds, wrt) -> list[Variable]:
        known: dict[Variable, Variable] = {}
        for j, seed in zip(seeded, seeds, strict=True):
            out = outputs[j]
            known[out] = known[out] + seed if out in known else seed
        grads = grad(None, [self.inner_inputs[i] for i in wrt], known_grads=known, disconnected_inputs="ignore")
        return list(grads)

    def R_op(self, inputs, eval_points):
        condition, *values = inputs
        points = eval_points[1:]
        wrt = [i for i, (v, p) in enumerate(zip(self.inner_inputs, points, strict=True))
               if is_float(v.dtype) and p is not None]
        floats = [j for j, o in enumerate(self.then_outputs) if is_float(o.dtype)]
        results: list[Variable | None] = [None] * len(self.then_outputs)
        if not wrt or not floats:
            return results
        with without_test_values():
            dots = [self.inner_inputs[i].type(f"dot{i}") for i in wrt]
            branches = [Rop([outs[j] for j in floats], [self.inner_inputs[i] for i in wrt], dots)
                        for outs in (self.then_outputs, self.else_outputs)]
        op = IfElse(self.inner_inputs + dots, *branches, name=f"rop_{self.name}")
        tangents = op.apply(condition, *values, *[points[i] for i in wrt]).outputs
        for j, t in zip(floats, tangents, strict=True):
            results[j] = t
        return results


def _fresh(value, dtype: str, inputs: Sequence) -> np.ndarray:
    """The branch's value as an array of ``dtype`` that aliases no input (a branch may return an input)."""
    array = np.asarray(value, dtype=dtype)
    if any(isinstance(v, np.ndarray) and np.may_share_memory(array, v) for v in inputs):
        return array.copy()
    return array


def _joined_type(index: int, a: TensorType, b: TensorType) -> TensorType:
    if a.dtype != b.dtype or a.ndim != b.ndim:
        raise TypeError(
            f"ifelse: output {index} has type {a} in the then branch and {b} in the else branch; "
            "both branches must give the same dtype and rank (cast one of them)"
        )
    return TensorType(a.dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)))


def _dependence(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> list[list[bool]]:
    nodes = apply_nodes(outputs, stop=inputs)
    rows = []
    for x in inputs:
        reached = set() if is_discrete(x.dtype) else {id(x)}
        for node in nodes:
            pattern = node.op.connection_pattern(node)
            for j, out in enumerate(node.outputs):
                if any(id(v) in reached and pattern[i][j] for i, v in enumerate(node.inputs)):
                    reached.add(id(out))
        rows.append([id(o) in reached and is_float(o.dtype) for o in outputs])
    return rows


# ------------------------------------------------------------------------------ ifelse


def ifelse(condition, then_branch, else_branch, name: str | None = None):
    """``then_branch`` when the scalar ``condition`` is true (non-zero), else ``else_branch``.

    Both branches are a variable or lists of variables of matching types; the
    result has the same form.  Only the branch taken is computed.
    """
    name = name or "ifelse"
    condition = as_tensor_variable(condition)
    if condition.ndim != 0:
        raise TypeError(f"ifelse: the condition must be a scalar. Received: {condition.type}")
    if condition.dtype != "bool":
        condition = not_equal(condition, 0)
    as_list = isinstance(then_branch, (list, tuple))
    then_outs = [as_tensor_variable(v) for v in (then_branch if as_list else [then_branch])]
    else_outs = [as_tensor_variable(v) for v in (else_branch if isinstance(else_branch, (list, tuple))
                                                 else [else_branch])]
    if len(then_outs) != len(else_outs):
        raise ValueError(f"ifelse: the then branch has {len(then_outs)} outputs and the else branch "
                         f"{len(else_outs)}; they must have as many")
    for index, (a, b) in enumerate(zip(then_outs, else_outs, strict=True)):
        _joined_type(index, a.type, b.type)
    outer = {id(v) for v in ancestors([condition])}
    then_states, else_states = _branch_states(then_outs, outer), _branch_states(else_outs, outer)
    states = list(dict.fromkeys(list(then_states) + list(else_states)))
    then_outs = then_outs + [then_states.get(s, s) for s in states]
    else_outs = else_outs + [else_states.get(s, s) for s in states]
    inputs = _branch_inputs(then_outs + else_outs, outer)
    placeholders = {v: v.type(v.name) for v in inputs}
    with without_test_values():
        rewired = clone_replace(then_outs + else_outs, placeholders)
        inner_inputs, inner_outputs = clone_graph(list(placeholders.values()), rewired)
    n = len(then_outs)
    op = IfElse(inner_inputs, inner_outputs[:n], inner_outputs[n:], name)
    outputs = op.apply(condition, *inputs).outputs
    n_user = n - len(states)
    for state, new in zip(states, outputs[n_user:], strict=True):
        state.default_update = new
    results = outputs[:n_user]
    return results if as_list else results[0]


def _inside(var: Variable, outer: set[int]) -> bool:
    return var.owner is not None and id(var) not in outer


def _branch_nodes(outputs: Sequence[Variable], outer: set[int]) -> list[Apply]:
    return topological_order(
        [v.owner for v in outputs if _inside(v, outer)],
        lambda node: [v.owner for v in node.inputs if _inside(v, outer)],
    )


def _branch_states(outputs: Sequence[Variable], outer: set[int]) -> dict:
    """Generator states drawn from inside a branch, with their new values."""
    nodes = set(_branch_nodes(outputs, outer))
    found: dict = {}
    for node in nodes:
        for var in node.inputs:
            update = getattr(var, "default_update", None)
            if isinstance(var, SharedVariable) and update is not None and update.owner in nodes:
                found[var] = update
    return found


def _branch_inputs(outputs: Sequence[Variable], outer: set[int]) -> list[Variable]:
    """What the branches read from outside, in order of first use (constants stay inside)."""
    seen: dict[int, Variable] = {}
    for node in _branch_nodes(outputs, outer):
        for var in node.inputs:
            if not _inside(var, outer) and not isinstance(var, Constant):
                seen.setdefault(id(var), var)
    for var in outputs:
        if not _inside(var, outer) and not isinstance(var, Constant):
            seen.setdefault(id(var), var)
    return list(seen.values())

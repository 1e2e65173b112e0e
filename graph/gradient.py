"""Symbolic differentiation: one reverse-mode walk and one forward-mode walk.

``grad`` visits the Apply nodes between ``wrt`` and the cost in reverse
topological order, asks each op for its ``L_op`` and sums contributions
where a variable fans out.  The result is an ordinary graph, which the
rewriter then optimizes and the backends compile like any other.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Constant, Variable, apply_nodes, clone_replace
from theanine.graph.ops.creation import arange, zeros_like
from theanine.graph.ops.disconnected import DisconnectedGrad, disconnected_grad, stop_gradient
from theanine.graph.ops.math import cast
from theanine.graph.ops.shape import reshape, stack
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.test_values import stand_in
from theanine.graph.type import is_discrete

__all__ = [
    "grad", "Lop", "Rop", "jacobian", "hessian", "disconnected_grad", "stop_gradient",
    "DisconnectedInputError", "DisconnectedGrad",
]
# DisconnectedGrad, disconnected_grad and stop_gradient are defined with the ops
# (graph/ops/disconnected.py, which logsumexp uses) and belong to this module's API.


class DisconnectedInputError(ValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


def _as_list(value) -> tuple[list, bool]:
    if isinstance(value, (list, tuple)):
        return list(value), True
    return [value], False


def _connected(nodes: Sequence[Apply], sources: Sequence[Variable]) -> set[int]:
    """ids of variables that depend differentiably on ``sources``."""
    connected = {id(v) for v in sources}
    for node in nodes:
        pattern = node.op.connection_pattern(node)
        for j, out in enumerate(node.outputs):
            if any(id(x) in connected and pattern[i][j] for i, x in enumerate(node.inputs)):
                connected.add(id(out))
    return connected


def _checked_grad(g: Variable, x: Variable, node: Apply) -> Variable:
    g = as_tensor_variable(g)
    if g.dtype != x.dtype:
        g = cast(g, x.dtype)
    if not x.type.shape_compatible(g.type):
        raise TypeError(
            f"{node.op}.L_op returned a gradient of type {g.type} for an input of type {x.type} "
            f"(node created at {node.source})"
        )
    return g


def _sum_terms(terms: list[Variable]) -> Variable:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def grad(cost, wrt, known_grads: Mapping | None = None, consider_constant: Sequence | None = None,
         disconnected_inputs: str = "raise", return_disconnected: str = "zero"):
    """Gradients of the scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    ``known_grads`` seeds gradients of intermediate variables (cost may then
    be None); ``consider_constant`` lists variables treated as constants;
    ``disconnected_inputs`` says what to do for a ``wrt`` the cost does not
    depend on: "raise" (default), "warn" or "ignore"; what is then returned
    for it is ``return_disconnected``'s choice, as in Theano: "zero" (zeros
    of its type, the default) or "None" / "disconnected" (None).
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(
            f"disconnected_inputs must be 'raise', 'warn' or 'ignore'. Received: {disconnected_inputs!r}"
        )
    if return_disconnected not in ("zero", "None", "disconnected"):
        raise ValueError(
            f"return_disconnected must be 'zero', 'None' or 'disconnected'. Received: {return_disconnected!r}"
        )
    wrt_list, was_list = _as_list(wrt)
    seeds = _seed_gradients(cost, known_grads)
    for x in wrt_list:
        if not isinstance(x, Variable):
            raise TypeError(f"grad: wrt must hold symbolic variables. Received: {type(x).__name__}")
        if is_discrete(x.dtype):
            raise TypeError(
                f"grad: cannot differentiate with respect to {x.label()} of integer/bool type {x.type}; "
                "its gradient is undefined"
            )
    blocked = list(consider_constant or [])
    nodes = apply_nodes([v for v, _ in seeds], stop=blocked + wrt_list)
    connected = _connected(nodes, wrt_list)
    contributions: dict[int, list[Variable]] = {}
    for var, g in seeds:
        contributions.setdefault(id(var), []).append(g)
    for node in reversed(nodes):
        _backprop_node(node, contributions, connected)
    results = []
    for x in wrt_list:
        terms = contributions.get(id(x))
        if terms:
            results.append(_sum_terms(terms))
            continue
        message = f"grad: the cost does not depend on {x.label()} (type {x.type}, created at {x.source})"
        if disconnected_inputs == "raise":
            raise DisconnectedInputError(message + "; pass disconnected_inputs='ignore' to get zeros")
        if disconnected_inputs == "warn":
            warnings.warn(message, stacklevel=2)
        results.append(zeros_like(x) if return_disconnected == "zero" else None)
    return results if was_list else results[0]


def _seed_gradients(cost, known_grads) -> list[tuple[Variable, Variable]]:
    seeds = []
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar (rank 0), got type {cost.type}; sum it first")
        if is_discrete(cost.dtype):
            raise TypeError(f"grad: cost has integer/bool type {cost.type}, which has no gradient")
        seeds.append((cost, Constant(np.asarray(1, dtype=cost.dtype))))
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if not var.type.shape_compatible(g.type):
            raise TypeError(f"known_grads: gradient of type {g.type} does not fit {var.label()} of type {var.type}")
        seeds.append((var, g if g.dtype == var.dtype else g.astype(var.dtype)))
    if not seeds:
        raise ValueError("grad: give a cost or known_grads")
    return seeds


def _backprop_node(node: Apply, contributions: dict[int, list[Variable]], connected: set[int]) -> None:
    if not any(id(o) in contributions for o in node.outputs):
        return
    if not any(id(x) in connected for x in node.inputs):
        return
    output_grads = [
        _sum_terms(contributions[id(o)]) if id(o) in contributions else zeros_like(o) for o in node.outputs
    ]
    input_grads = node.op.L_op(node.inputs, node.outputs, output_grads)
    if len(input_grads) != len(node.inputs):
        raise TypeError(f"{node.op}.L_op returned {len(input_grads)} gradients for {len(node.inputs)} inputs")
    for x, g in zip(node.inputs, input_grads, strict=False):
        if g is None or id(x) not in connected or is_discrete(x.dtype):
            continue
        contributions.setdefault(id(x), []).append(_checked_grad(g, x, node))


def Lop(f, wrt, eval_points):
    """Vector-Jacobian product: ``eval_points`` (one per ``f``) times d f / d wrt."""
    f_list, _ = _as_list(f)
    points, _ = _as_list(eval_points)
    if len(points) != len(f_list):
        raise ValueError(f"Lop: {len(f_list)} expression(s) but {len(points)} eval point(s)")
    known = {fi: as_tensor_variable(p) for fi, p in zip(f_list, points, strict=False)}
    return grad(None, wrt, known_grads=known, disconnected_inputs="ignore")


def Rop(f, wrt, eval_points):
    """Jacobian-vector product: d f / d wrt times ``eval_points`` (one per ``wrt``).

    Uses each op's ``R_op``; an op without one is handled through its L_op
    (the transpose of a linear map, transposed again).
    """
    f_list, f_was_list = _as_list(f)
    wrt_list, _ = _as_list(wrt)
    points, _ = _as_list(eval_points)
    if len(points) != len(wrt_list):
        raise ValueError(f"Rop: {len(wrt_list)} variable(s) but {len(points)} eval point(s)")
    tangents: dict[int, Variable] = {}
    for x, p in zip(wrt_list, points, strict=False):
        p = as_tensor_variable(p)
        if not x.type.shape_compatible(p.type):
            raise TypeError(f"Rop: eval point of type {p.type} does not fit {x.label()} of type {x.type}")
        tangents[id(x)] = p if p.dtype == x.dtype else p.astype(x.dtype)
    for node in apply_nodes(f_list, stop=wrt_list):
        points_in = [tangents.get(id(x)) for x in node.inputs]
        if all(p is None for p in points_in):
            continue
        for out, t in zip(node.outputs, _node_rop(node, points_in), strict=False):
            if t is not None:
                tangents[id(out)] = _checked_grad(t, out, node)
    results = [tangents.get(id(fi)) if id(fi) in tangents else zeros_like(fi) for fi in f_list]
    return results if f_was_list else results[0]


def _node_rop(node: Apply, points: list[Variable | None]) -> list[Variable | None]:
    try:
        return node.op.R_op(node.inputs, points)
    except NotImplementedError:
        return _rop_through_lop(node, points)


def _rop_through_lop(node: Apply, points: list[Variable | None]) -> list[Variable | None]:
    """J v for one node from its L_op: d/du <L_op(u), v> = J v, with u a dummy."""
    results = []
    for j, out in enumerate(node.outputs):
        if is_discrete(out.dtype):
            results.append(None)
            continue
        u = stand_in(out, "u", zeros=True)
        output_grads = [u if k == j else zeros_like(o) for k, o in enumerate(node.outputs)]
        vjps = node.op.L_op(node.inputs, node.outputs, output_grads)
        inner = [(g * p).sum() for g, p in zip(vjps, points, strict=False) if g is not None and p is not None]
        if not inner:
            results.append(None)
            continue
        jv = grad(_sum_terms(inner), u, disconnected_inputs="ignore")
        results.append(clone_replace([jv], {u: zeros_like(out)})[0])
    return results


def jacobian(expression, wrt):
    """d expression / d wrt, of shape ``expression.shape + wrt.shape``.

    When the expression's size is static, one gradient per element is
    built (unrolled); otherwise a ``scan`` over ``arange(expression.size)``
    computes one row per step, as Theano did, so the size may be known only
    at run time.
    """
    expression = as_tensor_variable(expression)
    wrt_list, was_list = _as_list(wrt)
    static = all(d is not None for d in expression.type.shape)
    size = int(np.prod(expression.type.shape, dtype=np.int64)) if static else None
    if size == 0:
        raise ValueError("jacobian: the expression is empty")
    flat = expression.flatten() if expression.ndim != 1 else expression
    results = []
    for x in wrt_list:
        jac = stack([grad(flat[i], x, disconnected_inputs="ignore") for i in range(size)]) if static else \
            _scanned_rows(flat, x)
        results.append(reshape(jac, _shape_of(expression) + _shape_of(x)))
    return results if was_list else results[0]


def _scanned_rows(flat: Variable, x: Variable) -> Variable:
    """``[grad(flat[i], x) for i in range(len(flat))]`` as one loop."""

    def row(i, flat, x):
        return grad(flat[i], x, disconnected_inputs="ignore")

    # scan loads after this module (its gradient is built with it): reached through ``ops`` at call time
    rows, _ = ops.scan.scan(row, sequences=arange(flat.shape[0]), non_sequences=[flat, x], name="jacobian")
    return rows


def _shape_of(x: Variable) -> tuple:
    if all(d is not None for d in x.type.shape):
        return tuple(x.type.shape)
    return tuple(x.type.shape[i] if x.type.shape[i] is not None else x.shape[i] for i in range(x.ndim))


def hessian(cost, wrt):
    """Second derivatives of the scalar ``cost``: ``jacobian(grad(cost, wrt), wrt)``."""
    wrt_list, was_list = _as_list(wrt)
    results = [jacobian(grad(cost, x), x) for x in wrt_list]
    return results if was_list else results[0]

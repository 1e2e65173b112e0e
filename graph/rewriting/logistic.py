"""Stabilize the logistic family: sigmoid, softplus and the exp/log formulas that equal them.

Written with ``exp`` and ``log``, the logistic function and its logarithms
overflow or underflow long before the values do: ``1 / (1 + exp(-x))``,
``log(1 + exp(x))`` and ``log(1 - sigmoid(x))`` give inf or nan from
|x| ~ 17 (float32) or ~ 37 (float64) on.  So do their gradients, and
``th.grad`` differentiates the user's graph, not the rewritten one: the
gradient of ``log(sigmoid(x))`` is ``g / sigmoid(x) * sigmoid(x) * (1 -
sigmoid(x))``, which is 0/0 once sigmoid(x) underflows.  These stabilize
rewrites therefore read both the formulas and the products that gradients
build, and turn them into the logistic ops, which are finite everywhere:

- ``1 - sigmoid(x) -> sigmoid(-x)``;
- ``log(sigmoid(x)) -> -softplus(-x)`` (so ``log(1 - sigmoid(x))`` is
  ``-softplus(x)``);
- ``log1p(exp(x)) -> softplus(x)`` (``log(1 + exp(x))`` is first ``log1p``);
- ``logistic_product``: a tree of ``*``, ``/``, negations and reciprocals
  is read as ``c * prod(numerator) / prod(denominator)`` (c gathers the
  constants) and simplified:
  ``exp(a) / (1 + exp(a)) -> sigmoid(a)``, ``1 / (1 + exp(a)) ->
  sigmoid(-a)``, ``sigmoid(a) * exp(-a) -> sigmoid(-a)`` (also as
  ``sigmoid(a) / exp(a)``), and a positive factor (sigmoid, exp, softplus,
  ``1 + exp``) found in both numerator and denominator cancels.  In real
  arithmetic each step is exact; in floating point each removes an
  overflow or underflow (inf/inf, 0/0, 0 * inf) of the naive form.  When
  nothing simplifies but a factor is a sum whose terms would (the gradient
  of a crossentropy written with ``p = 1 / (1 + exp(-x))`` is ``(a / (1 -
  p) + b / p) * p * (1 - p)``), the product is distributed over the sum;
- ``logistic_difference``: ``P - P * sigmoid(a) -> P * sigmoid(-a)`` for
  products P read as above (the gradient of ``exp(x) / (1 + exp(x))`` is
  ``g * sigmoid(x) - g * sigmoid(x) * sigmoid(x)``, which cancels to 0 where
  the true value is tiny but not 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.ops.math import negative, second, sigmoid, softplus
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.rewriters import PatternRewriter, node_rewriter
from theanine.graph.rewriting.utils import (
    elemwise_op,
    negated,
    same_expression,
    same_type,
    typed_constant,
    uniform_constant,
)
from theanine.graph.type import is_float

__all__ = ["PRODUCT_BUDGET"]

PRODUCT_BUDGET = 32
"""How many ``*``/``/``/negation nodes ``logistic_product`` reads below one node (so a chain of
thousands of products costs linear time; deeper factors are left to the nodes below)."""

LOG, LOG1P, EXP, ADD, SUB = (elemwise_op(n) for n in ("log", "log1p", "exp", "add", "subtract"))
MUL, DIV, NEG, RECIPROCAL = (elemwise_op(n) for n in ("multiply", "true_divide", "negative", "reciprocal"))
SIGMOID, SOFTPLUS = elemwise_op("sigmoid"), elemwise_op("softplus")

one_minus_sigmoid = register("stabilize")(
    PatternRewriter((SUB, 1, (SIGMOID, "x")), lambda b: sigmoid(negated(b["x"])), name="one_minus_sigmoid")
)
one_minus_sigmoid.__doc__ = "``1 - sigmoid(x) -> sigmoid(-x)``: no cancellation to 0 for large x."

log_sigmoid = register("stabilize")(
    PatternRewriter((LOG, (SIGMOID, "x")), lambda b: -softplus(negated(b["x"])), name="log_sigmoid")
)
log_sigmoid.__doc__ = "``log(sigmoid(x)) -> -softplus(-x)``: finite for x down to -1e4 and beyond."

log1p_exp = register("stabilize")(PatternRewriter((LOG1P, (EXP, "x")), (SOFTPLUS, "x"), name="log1p_exp"))
log1p_exp.__doc__ = "``log1p(exp(x)) -> softplus(x)``: finite where exp(x) overflows."


def _owner_op(var: Variable):
    return None if var.owner is None else var.owner.op


def _one_plus_exp_argument(var: Variable) -> Variable | None:
    """``a`` when ``var`` is ``1 + exp(a)`` (either order); else None."""
    if _owner_op(var) != ADD:
        return None
    for one, term in (var.owner.inputs, var.owner.inputs[::-1]):
        if uniform_constant(one) == 1 and _owner_op(term) == EXP:
            return term.owner.inputs[0]
    return None


def _logistic(var: Variable) -> bool:
    """Is ``var`` a logistic factor: sigmoid, exp, softplus or ``1 + exp``?  The simplifications
    read only these; each is positive for every finite input, so ``var / var`` is 1."""
    return _owner_op(var) in (SIGMOID, EXP, SOFTPLUS) or _one_plus_exp_argument(var) is not None


@dataclass
class _Product:
    """``coefficient * prod(numerator) / prod(denominator)``; ``removed`` keeps the factors taken
    out (constants gathered into the coefficient, simplified factors), whose shapes the result
    may still need."""

    coefficient: float
    numerator: list[Variable] = field(default_factory=list)
    denominator: list[Variable] = field(default_factory=list)
    removed: list[Variable] = field(default_factory=list)

    def take(self, var: Variable, side: list[Variable]) -> None:
        side.remove(var)
        self.removed.append(var)


def _scalar_constant(var: Variable, value) -> bool:
    """Does ``var`` hold one finite nonzero value, broadcast to no more than one element?"""
    return value is not None and all(d == 1 for d in var.type.shape) and value != 0 and bool(np.isfinite(value))


def _read_product(var: Variable) -> _Product:
    """``var`` as a product, reading at most ``PRODUCT_BUDGET`` nodes of ``var``'s dtype; uniform
    constants of one element go into the coefficient."""
    product = _Product(1.0)
    pending = [(var, False)]
    expanded = 0
    while pending:
        current, below = pending.pop()
        op = _owner_op(current)
        constant = uniform_constant(current)
        if _scalar_constant(current, constant):
            if below:
                product.coefficient /= float(constant)
            else:
                product.coefficient *= float(constant)
            product.removed.append(current)
            continue
        if expanded >= PRODUCT_BUDGET or current.dtype != var.dtype or op not in (MUL, DIV, NEG, RECIPROCAL):
            (product.denominator if below else product.numerator).append(current)
            continue
        expanded += 1
        inputs = current.owner.inputs
        if op == NEG:
            product.coefficient = -product.coefficient
            pending.append((inputs[0], below))
        elif op == RECIPROCAL:
            pending.append((inputs[0], not below))
        elif op == MUL:
            pending.extend((x, below) for x in reversed(inputs))
        else:
            pending.extend([(inputs[1], not below), (inputs[0], below)])
    return product


def _logistic_of_one_plus_exp(product: _Product) -> bool:
    """``exp(a) / (1 + exp(a)) -> sigmoid(a)``; a lone ``1 / (1 + exp(a)) -> sigmoid(-a)``."""
    for factor in product.denominator:
        a = _one_plus_exp_argument(factor)
        if a is None:
            continue
        product.take(factor, product.denominator)
        partner = next(
            (n for n in product.numerator if _owner_op(n) == EXP and same_expression(n.owner.inputs[0], a)), None
        )
        if partner is None:
            product.numerator.append(sigmoid(negated(a)))
        else:
            product.take(partner, product.numerator)
            product.numerator.append(sigmoid(a))
        return True
    return False


def _exp_exponents(product: _Product) -> list[tuple[Variable, list[Variable], bool]]:
    """``(factor, side, negate)`` for each exp factor: ``exp(e)`` on top is ``e``, below ``-e``."""
    return [(f, product.numerator, False) for f in product.numerator if _owner_op(f) == EXP] + [
        (f, product.denominator, True) for f in product.denominator if _owner_op(f) == EXP
    ]


def _negation_of(a: Variable, b: Variable) -> bool:
    """Is ``a`` the expression ``-b`` (one of them a negation of the other)?"""
    if _owner_op(a) == NEG and same_expression(a.owner.inputs[0], b):
        return True
    return _owner_op(b) == NEG and same_expression(a, b.owner.inputs[0])


def _logistic_times_exp(product: _Product) -> bool:
    """``sigmoid(s) * exp(-s) -> sigmoid(-s)`` (and ``sigmoid(s) / exp(s)``)."""
    for factor in product.numerator:
        if _owner_op(factor) != SIGMOID:
            continue
        s = factor.owner.inputs[0]
        for exp_factor, side, below in _exp_exponents(product):
            e = exp_factor.owner.inputs[0]
            if same_expression(e, s) if below else _negation_of(e, s):
                product.take(factor, product.numerator)
                product.take(exp_factor, side)
                product.numerator.append(sigmoid(negated(s)))
                return True
    return False


def _cancel_positive(product: _Product) -> bool:
    """A positive factor in both numerator and denominator cancels."""
    for factor in product.denominator:
        if not _logistic(factor):
            continue
        twin = next((n for n in product.numerator if same_expression(n, factor)), None)
        if twin is not None:
            product.take(factor, product.denominator)
            product.take(twin, product.numerator)
            return True
    return False


_STEPS = (_logistic_of_one_plus_exp, _logistic_times_exp, _cancel_positive)


def _simplify(product: _Product) -> bool:
    """Apply the steps until none applies; did any?  (Every step needs a logistic factor.)"""
    if not any(_logistic(f) for f in product.numerator + product.denominator):
        return False
    changed = False
    while any(step(product) for step in _STEPS):
        changed = True
    return changed


def _multiply_all(factors: list[Variable]) -> Variable | None:
    total = None
    for factor in factors:
        total = factor if total is None else total * factor
    return total


def _expression(product: _Product, dtype: str) -> Variable:
    """The product as a graph: ``c * num / den`` (``-num / den`` for c = -1)."""
    numerator = _multiply_all(product.numerator)
    denominator = _multiply_all(product.denominator)
    if numerator is None:
        new = typed_constant(product.coefficient, dtype)
    elif product.coefficient == -1:
        new = negative(numerator)
    elif product.coefficient != 1:
        new = typed_constant(product.coefficient, dtype) * numerator
    else:
        new = numerator
    return new if denominator is None else new / denominator


def _typed_like(new: Variable, out: Variable, removed: list[Variable]) -> Variable | None:
    """``new`` with ``out``'s type, or None when it cannot have it.

    Where the removed factors alone gave ``out`` its shape, ``new`` is broadcast
    against them (``second`` reads only their shapes)."""
    for factor in removed:
        if new.type.shape == out.type.shape:
            break
        new = second(factor, new)
    return new if same_type(out, new) else None


def _build(product: _Product, out: Variable) -> Variable | None:
    """The simplified product with ``out``'s type, or None when it cannot have it."""
    return _typed_like(_expression(product, out.dtype), out, product.removed)


def _times(product: _Product, other: _Product) -> _Product:
    return _Product(
        product.coefficient * other.coefficient,
        product.numerator + other.numerator,
        product.denominator + other.denominator,
        product.removed + other.removed,
    )


def _terms(var: Variable) -> list[_Product] | None:
    """The two terms of ``a + b`` or ``a - b`` (in ``var``'s dtype) as products; else None."""
    op = _owner_op(var)
    if op not in (ADD, SUB) or any(x.dtype != var.dtype for x in var.owner.inputs):
        return None
    terms = [_read_product(x) for x in var.owner.inputs]
    if op == SUB:
        terms[1].coefficient = -terms[1].coefficient
    return terms


def _distributed(product: _Product) -> list[_Product] | None:
    """``(a + b) * rest`` as ``[a * rest, b * rest]``, simplified, when that lets some term
    simplify (``(u / sigmoid(x) + v) * sigmoid(x) -> u + v * sigmoid(x)``); else None."""
    if not any(_logistic(f) for f in product.numerator + product.denominator):
        return None  # a term's own simplifications happen at its node; a pair needs one here
    for factor in product.numerator:
        terms = _terms(factor)
        if terms is None:
            continue
        rest = _Product(
            product.coefficient,
            [f for f in product.numerator if f is not factor],
            list(product.denominator),
            product.removed + [factor],
        )
        spread = [_times(rest, term) for term in terms]
        simplified = [_simplify(term) for term in spread]  # every term, not only up to the first
        if any(simplified):
            return spread
    return None


@register("stabilize")
@node_rewriter([MUL, DIV, NEG, RECIPROCAL])
def logistic_product(node: Apply):
    """Simplify the exp/sigmoid factors of a product, distributing it over a sum factor when
    that lets the factors meet (see the module docstring)."""
    out = node.outputs[0]
    if not is_float(out.dtype):
        return None
    product = _read_product(out)
    if _simplify(product):
        new = _build(product, out)
        return None if new is None else [new]
    spread = _distributed(product)
    if spread is None:
        return None
    first, second_term = (_expression(term, out.dtype) for term in spread)
    new = _typed_like(first + second_term, out, spread[0].removed + spread[1].removed)
    return None if new is None else [new]


def _matched(first: list[Variable], within: list[Variable]) -> list[Variable] | None:
    """What remains of ``within`` once each factor of ``first`` is matched in it; None when one is
    missing."""
    rest = list(within)
    for factor in first:
        twin = next((f for f in rest if same_expression(f, factor)), None)
        if twin is None:
            return None
        rest.remove(twin)
    return rest


def _sigmoid_complement(short: _Product, long: _Product) -> Variable | None:
    """``short * sigmoid(-a)`` when ``long`` is ``-short * sigmoid(a)``; else None."""
    extra = _matched(short.numerator, long.numerator)
    if short.coefficient != -long.coefficient or extra is None or len(extra) != 1 or _owner_op(extra[0]) != SIGMOID:
        return None
    if _matched(short.denominator, long.denominator) != []:
        return None
    short.numerator.append(sigmoid(negated(extra[0].owner.inputs[0])))
    return short


@register("stabilize")
@node_rewriter([ADD, SUB])
def logistic_difference(node: Apply):
    """``P - P * sigmoid(a) -> P * sigmoid(-a)`` (see the module docstring)."""
    out = node.outputs[0]
    terms = _terms(out) if is_float(out.dtype) else None
    if terms is None:
        return None
    for short, long in (terms, terms[::-1]):
        found = _sigmoid_complement(short, long)
        new = None if found is None else _build(found, out)
        if new is not None:
            return [new]
    return None

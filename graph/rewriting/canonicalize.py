"""Canonicalize: constant folding, algebraic identities, useless shape/cast ops.

Every rewrite here keeps the value of the graph exactly, with the float
caveats each docstring states (the sign of a zero, reassociation of
constants).  A rewrite that would change a variable's type declines:
identities only fire when the kept operand already has the result's type.

Deliberately absent: ``x / x -> 1`` (0/0 is nan in every dtype NumPy
divides, ints included since true division gives floats) and
``0 * x -> 0`` / ``x - x -> 0`` for floats (inf and nan make them wrong).
"""

from __future__ import annotations

import math

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.ops.custom_gradient import GradientOverride
from theanine.graph.ops.disconnected import DisconnectedGrad
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.math import Cast, cast, reciprocal, second, square, where
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import DimShuffle, Join, broadcast_to, shape_i
from theanine.graph.rewriting.db import register, rewrite_db
from theanine.graph.rewriting.drivers import merge, remove_dead_code
from theanine.graph.rewriting.rewriters import node_rewriter
from theanine.graph.rewriting.utils import elemwise_op, same_type, typed_constant, uniform_constant
from theanine.graph.type import is_discrete, is_float

__all__ = ["MAX_FOLDED_ELEMENTS"]

MAX_FOLDED_ELEMENTS = 1 << 16
"""Constant folding never materializes an output with more elements than this."""

ADD, SUB, MUL, NEG = (elemwise_op(n) for n in ("add", "subtract", "multiply", "negative"))
EXP, LOG, POW = (elemwise_op(n) for n in ("exp", "log", "power"))
SECOND, WHERE, GE = elemwise_op("second"), elemwise_op("where"), elemwise_op("greater_equal")

rewrite_db.register(merge, "merge")
rewrite_db.register(remove_dead_code, "merge")


def _operand_orders(node: Apply) -> list[tuple[Variable, Variable]]:
    """``(x, c)`` operand pairs of a binary commutative node, in both orders."""
    a, b = node.inputs
    return [(a, b), (b, a)]


# ---------------------------------------------------------------------------- constant folding


def _foldable(node: Apply) -> bool:
    if not all(isinstance(v, Constant) for v in node.inputs):
        return False
    if not getattr(node.op, "deterministic", True):
        return False
    shapes = [o.type.shape for o in node.outputs]
    return all(None not in s and math.prod(s) <= MAX_FOLDED_ELEMENTS for s in shapes)


@register("canonicalize", "fast_compile")
@node_rewriter(None)
def constant_folding(node: Apply):
    """A node whose inputs are all constants becomes constants, computed with its ``perform``.

    Skipped: ops marked ``deterministic = False`` (random draws), outputs of
    unknown or large static size (over ``MAX_FOLDED_ELEMENTS``), and nodes
    whose ``perform`` raises (the error then happens at run time, where it
    names the user's line).
    """
    if not _foldable(node):
        return None
    try:
        with np.errstate(all="ignore"):
            values = node.op.perform(node, [v.data for v in node.inputs])
    except Exception:
        return None
    folded = []
    for out, value in zip(node.outputs, values, strict=True):
        value = np.asarray(value)
        if value.dtype != out.dtype or out.type.check_value_shape(value.shape):
            return None
        folded.append(Constant(value))
    return folded


# ---------------------------------------------------------------------------- neutral elements


@register("canonicalize", "fast_compile")
@node_rewriter([MUL])
def mul_by_one(node: Apply):
    """``x * 1 -> x`` (and ``1 * x``), when x already has the result's type."""
    for x, c in _operand_orders(node):
        if uniform_constant(c) == 1 and same_type(node.outputs[0], x):
            return [x]
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([ADD, SUB])
def add_zero(node: Apply):
    """``x + 0 -> x``, ``0 + x -> x``, ``x - 0 -> x``.

    For floats ``-0.0 + 0`` is ``+0.0`` while the rewrite keeps ``-0.0``:
    equal values, only the sign of a zero differs.
    """
    orders = _operand_orders(node) if node.op == ADD else [tuple(node.inputs)]
    for x, c in orders:
        if uniform_constant(c) == 0 and same_type(node.outputs[0], x):
            return [x]
    return None


def _zeros_like_output(node: Apply, x: Variable) -> Variable | None:
    out = node.outputs[0]
    zeros = second(x, typed_constant(0, out.dtype))
    return zeros if same_type(out, zeros) else None


@register("canonicalize", "fast_compile")
@node_rewriter([MUL])
def mul_by_zero(node: Apply):
    """``x * 0 -> zeros`` for integer and bool results only (a float x may be inf or nan)."""
    if not is_discrete(node.outputs[0].dtype):
        return None
    for x, c in _operand_orders(node):
        if uniform_constant(c) == 0:
            return _zeros_like_output(node, x)
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([SUB])
def sub_self(node: Apply):
    """``x - x -> zeros`` for integer results only (``inf - inf`` is nan for floats)."""
    x, y = node.inputs
    if x is not y or not is_discrete(node.outputs[0].dtype):
        return None
    return _zeros_like_output(node, x)


@register("canonicalize", "fast_compile")
@node_rewriter([NEG])
def double_negation(node: Apply):
    """``-(-x) -> x`` (exact: negation only flips the sign bit, or wraps for ints)."""
    (inner,) = node.inputs
    if (
        inner.owner is not None
        and inner.owner.op == NEG
        and same_type(node.outputs[0], inner.owner.inputs[0])
    ):
        return [inner.owner.inputs[0]]
    return None


# ---------------------------------------------------------------------------- exp / log


@register("canonicalize", "fast_compile")
@node_rewriter([EXP])
def exp_of_log(node: Apply):
    """``exp(log(x)) -> where(x >= 0, x, nan)`` for float x.

    The naive form is nan for x < 0 (log's domain), which the ``where``
    keeps; elsewhere it returns x exactly instead of x with two roundings.
    """
    (inner,) = node.inputs
    if inner.owner is None or inner.owner.op != LOG:
        return None
    x = inner.owner.inputs[0]
    out = node.outputs[0]
    if not is_float(x.dtype) or not same_type(out, x):
        return None
    return [where(GE(x, typed_constant(0, x.dtype)), x, typed_constant(np.nan, x.dtype))]


@register("canonicalize", "fast_compile")
@node_rewriter([LOG])
def log_of_exp(node: Apply):
    """``log(exp(x)) -> x`` for float x.

    Equal wherever ``exp(x)`` neither overflows nor underflows; where it
    would (|x| beyond ~88 in float32, ~709 in float64) the naive form gives
    +-inf and the rewrite the true value x.
    """
    (inner,) = node.inputs
    if inner.owner is None or inner.owner.op != EXP:
        return None
    x = inner.owner.inputs[0]
    if not is_float(x.dtype) or not same_type(node.outputs[0], x):
        return None
    return [x]


# ---------------------------------------------------------------------------- powers and constants


def _small_power(x: Variable, k: int) -> Variable | None:
    """``x ** k`` as multiplications (k in 1..4) or reciprocals (k in -1, -2)."""
    builders = {
        1: lambda: x,
        2: lambda: square(x),
        3: lambda: square(x) * x,
        4: lambda: square(square(x)),
        -1: lambda: reciprocal(x),
        -2: lambda: reciprocal(square(x)),
    }
    build = builders.get(k)
    return None if build is None else build()


@register("canonicalize", "fast_compile")
@node_rewriter([POW])
def pow_small_integer(node: Apply):
    """``x ** k`` for a constant integer k in -2..4 -> ones, x, square, products, reciprocal.

    x is first cast to the result dtype, so the arithmetic happens where
    the power happened.  Negative k only for float results (NumPy refuses
    integers to negative integer powers).  ``x ** 0`` is 1 even for nan, as
    in NumPy.  ``x ** 3`` as ``x * x * x`` may differ in the last bit.
    """
    x, c = node.inputs
    out = node.outputs[0]
    k = uniform_constant(c)
    if k is None or not float(k).is_integer() or not -2 <= k <= 4:
        return None
    k = int(k)
    if k < 0 and not is_float(out.dtype):
        return None
    if k == 0:
        new = second(x, typed_constant(1, out.dtype))
    else:
        new = _small_power(cast(x, out.dtype), k)
    return [new] if same_type(out, new) else None


@register("canonicalize", "fast_compile")
@node_rewriter([ADD, MUL])
def collect_constants(node: Apply):
    """``(x + c1) + c2 -> x + (c1 + c2)`` and the same for ``*`` (then folded).

    Only when x, both constants and the result share one dtype.  For floats
    this reassociates: results may differ in rounding, and where ``x + c1``
    overflowed or cancelled the rewritten form is the more accurate one.
    """
    out = node.outputs[0]
    for inner, c2 in _operand_orders(node):
        if inner.owner is None or inner.owner.op != node.op or uniform_constant(c2) is None:
            continue
        for x, c1 in _operand_orders(inner.owner):
            if uniform_constant(c1) is None or uniform_constant(x) is not None:
                continue
            if len({x.dtype, c1.dtype, c2.dtype, out.dtype}) != 1:
                continue
            new = node.op(x, node.op(c1, c2))
            if same_type(out, new):
                return [new]
    return None


# ---------------------------------------------------------------------------- useless ops


@register("canonicalize", "fast_compile")
@node_rewriter([DimShuffle])
def useless_dimshuffle(node: Apply):
    """An identity DimShuffle disappears; two DimShuffles in a row become one."""
    (x,) = node.inputs
    pattern = node.op.pattern
    if pattern == tuple(range(x.ndim)):
        return [x]
    if x.owner is None or not isinstance(x.owner.op, DimShuffle):
        return None
    inner = x.owner.op.pattern
    combined = tuple("x" if p == "x" else inner[p] for p in pattern)
    source = x.owner.inputs[0]
    if combined == tuple(range(source.ndim)):
        return [source] if same_type(node.outputs[0], source) else None
    return [DimShuffle(combined)(source)]


@register("canonicalize", "fast_compile")
@node_rewriter([Join])
def join_of_one(node: Apply):
    """``concatenate([x])`` is ``x`` (``stack([x])`` a new axis of it: a view, not a copy)."""
    if len(node.inputs) == 1 and same_type(node.outputs[0], node.inputs[0]):
        return [node.inputs[0]]
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([Cast])
def useless_cast(node: Apply):
    """A cast to the dtype the input already has disappears."""
    (x,) = node.inputs
    return [x] if same_type(node.outputs[0], x) else None


@register("canonicalize", "fast_compile")
@node_rewriter([SECOND])
def useless_second(node: Apply):
    """``second(x, y) -> y`` when y already has the result's shape and dtype."""
    _, y = node.inputs
    return [y] if same_type(node.outputs[0], y) else None


@register("canonicalize", "fast_compile")
@node_rewriter([ADD])
def add_broadcast_zeros(node: Apply):
    """``second(a, 0) + y -> second(a, y)``: adding broadcast zeros (how gradients start their
    sums) only broadcasts y.  Same sign-of-zero caveat as ``add_zero``."""
    for zeros, y in _operand_orders(node):
        if zeros.owner is None or zeros.owner.op != SECOND or uniform_constant(zeros.owner.inputs[1]) != 0:
            continue
        new = second(zeros.owner.inputs[0], y)
        if same_type(node.outputs[0], new):
            return [new]
    return None


@register("canonicalize", "fast_compile")
@node_rewriter([Elemwise])
def constant_fill_through_elemwise(node: Apply):
    """``f(second(x, c1), c2) -> second(x, f(c1, c2))`` for constants c: an elementwise op of
    broadcast constants is a broadcast of the folded constant (``ones_like(x) * 3``)."""
    if len(node.outputs) != 1 or node.op == SECOND:
        return None
    fills = [v for v in node.inputs if v.owner is not None and v.owner.op == SECOND]
    if len(fills) != 1:
        return None
    x, c = fills[0].owner.inputs
    if uniform_constant(c) is None or any(
        uniform_constant(v) is None for v in node.inputs if v is not fills[0]
    ):
        return None
    folded = node.op(*[c if v is fills[0] else v for v in node.inputs])
    new = second(x, folded)
    return [new] if same_type(node.outputs[0], new) else None


@register("canonicalize", "fast_compile")
@node_rewriter([Elemwise])
def redundant_fill_operand(node: Apply):
    """``f(second(a, c), y) -> f(c, y)`` when the result keeps its type: the other operands
    already give it a's shape (gradients build ``second(x ** 2, 2.0) * x``; the square goes)."""
    if node.op == SECOND:
        return None
    for index, var in enumerate(node.inputs):
        if var.owner is None or var.owner.op != SECOND:
            continue
        value = var.owner.inputs[1]
        if value.dtype != var.dtype:
            continue
        new = node.op(*[value if i == index else v for i, v in enumerate(node.inputs)])
        new_outputs = new if isinstance(new, list) else [new]
        if all(same_type(old, n) for old, n in zip(node.outputs, new_outputs, strict=True)):
            return new_outputs
    return None


def _count(x: Variable, axes: tuple[int, ...], dtype: str) -> Variable:
    """How many elements of ``x`` a reduction over ``axes`` combines, as a ``dtype`` scalar."""
    static = [x.type.shape[a] for a in axes]
    if None not in static:
        return typed_constant(math.prod(static), dtype)
    count = None
    for a in axes:
        dim = shape_i(x, a) if x.type.shape[a] is None else typed_constant(x.type.shape[a], "int64")
        count = dim if count is None else count * dim
    return cast(count, dtype)


@register("canonicalize", "fast_compile")
@node_rewriter([Reduce])
def sum_of_broadcast(node: Apply):
    """``sum(second(x, c), axes) -> c * count`` when c is broadcast (static 1) along every
    summed axis: each sum adds ``count`` copies of one value (e.g. ``sum(ones_like(x))`` is
    x's size).  Float results may differ from the sequential sum by rounding."""
    op = node.op
    (filled,) = node.inputs
    if op.kind != "sum" or op.dtype is not None or not op.axes or filled.owner is None:
        return None
    if filled.owner.op != SECOND:
        return None
    x, c = filled.owner.inputs
    out = node.outputs[0]
    if c.dtype != out.dtype or any(c.type.shape[a] != 1 for a in op.axes):
        return None
    kept = tuple(a for a in range(c.ndim) if a not in op.axes)
    new = DimShuffle(kept)(c) * _count(x, op.axes, out.dtype)
    if new.type.shape != out.type.shape:
        new = broadcast_to(new, [x.type.shape[a] if x.type.shape[a] is not None else shape_i(x, a) for a in kept])
    return [new] if same_type(out, new) else None


@register("canonicalize", "fast_compile")
@node_rewriter([WHERE])
def where_constant_condition(node: Apply):
    """``where(True, a, b) -> a`` and ``where(False, a, b) -> b`` for a constant condition."""
    condition, a, b = node.inputs
    value = uniform_constant(condition)
    if value is None:
        return None
    kept = a if bool(value) else b
    return [kept] if same_type(node.outputs[0], kept) else None


@register("specialize")
@node_rewriter([DisconnectedGrad])
def remove_disconnected_grad(node: Apply):
    """``disconnected_grad(x) -> x``: it only matters to ``grad``, which has already run."""
    return [node.inputs[0]]


@register("specialize")
@node_rewriter([GradientOverride])
def remove_gradient_override(node: Apply):
    """A ``GradientOverride`` passes its values through: its gradient rule, too, matters only to
    ``grad``, which has already run (so it compiles to nothing, not a copy)."""
    values = node.inputs[node.op.n_inputs:]
    return list(values) if all(same_type(o, v) for o, v in zip(node.outputs, values, strict=True)) else None

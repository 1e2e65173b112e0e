"""Shape arithmetic for lowering rules: ShapeExprs built with constant folding.

Every helper takes and returns ``ShapeExpr`` values (ints, ``DimOf``,
``ValueOf``, ``ShapeCall``); when all arguments are ints the result is an
int, so static shapes stay static and cost nothing at run time.  Slice
bounds follow Python's ``slice.indices`` rules.  ``check_step`` turns
conditions on them into a step that fails at run time unless they hold.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.codegen.program.kernel_ir import SHAPE_OPS, DimOf, ElementwiseKernel, ShapeCall, ShapeExpr


def _call(op: str, *args: ShapeExpr) -> ShapeExpr:
    if all(isinstance(a, int) for a in args):
        return SHAPE_OPS[op](*args)
    return ShapeCall(op, tuple(args))


def add(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    if a == 0:
        return b
    return a if b == 0 else _call("add", a, b)


def sub(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    return a if b == 0 else _call("sub", a, b)


def mul(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    if a == 1:
        return b
    return a if b == 1 else _call("mul", a, b)


def floordiv(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    return a if b == 1 else _call("floordiv", a, b)


def maximum(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    return a if a == b else _call("max", a, b)


def minimum(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    return a if a == b else _call("min", a, b)


def less(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    """1 when ``a < b`` else 0 (folded where a dimension's sign decides it: dims are >= 0)."""
    if isinstance(a, DimOf) and isinstance(b, int) and b <= 0:
        return 0
    if isinstance(a, int) and a < 0 and isinstance(b, DimOf):
        return 1
    return _call("lt", a, b)


def where(condition: ShapeExpr, a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    if isinstance(condition, int):
        return a if condition else b
    return a if a == b else _call("where", condition, a, b)


def product(values: Sequence[ShapeExpr]) -> ShapeExpr:
    total: ShapeExpr = 1
    for v in values:
        total = mul(total, v)
    return total


def total(values: Sequence[ShapeExpr]) -> ShapeExpr:
    result: ShapeExpr = 0
    for v in values:
        result = add(result, v)
    return result


def clamp(value: ShapeExpr, low: ShapeExpr, high: ShapeExpr) -> ShapeExpr:
    return maximum(low, minimum(value, high))


def wrap(index: ShapeExpr, size: ShapeExpr) -> ShapeExpr:
    """A negative index counts from the end (once)."""
    if isinstance(index, int) and index >= 0:
        return index
    return where(less(index, 0), add(index, size), index)


def in_range(index: ShapeExpr, size: ShapeExpr) -> ShapeExpr:
    """1 when ``0 <= index < size``."""
    return mul(less(-1, index), less(index, size))


def slice_bounds(size: ShapeExpr, start, stop, step) -> tuple[ShapeExpr, ShapeExpr]:
    """(first index, length) of ``range(size)[start:stop:step]``.

    ``start``/``stop`` are None or ShapeExprs (ints or run-time values);
    ``step`` is a ShapeExpr too: a constant picks one direction when
    compiling, a run-time step chooses by its sign (a zero step gives a
    length of 0; the caller checks it, NumPy raises).
    """
    if isinstance(step, int):
        return _directed_bounds(size, start, stop, step, step > 0)
    forward = _directed_bounds(size, start, stop, step, True)
    backward = _directed_bounds(size, start, stop, step, False)
    positive = less(0, step)
    return where(positive, forward[0], backward[0]), where(positive, forward[1], backward[1])


def _directed_bounds(size: ShapeExpr, start, stop, step: ShapeExpr, forward: bool) -> tuple[ShapeExpr, ShapeExpr]:
    """Python's ``slice.indices`` for a step known to be positive (``forward``) or negative."""
    if forward:
        first = 0 if start is None else clamp(wrap(start, size), 0, size)
        end = size if stop is None else clamp(wrap(stop, size), 0, size)
        return first, maximum(0, floordiv(add(sub(end, first), sub(step, 1)), step))
    first = sub(size, 1) if start is None else clamp(wrap(start, size), -1, sub(size, 1))
    end = -1 if stop is None else clamp(wrap(stop, size), -1, sub(size, 1))
    backwards = sub(0, step)
    return first, maximum(0, floordiv(add(sub(first, end), sub(backwards, 1)), backwards))


def nonzero(value: ShapeExpr) -> ShapeExpr:
    """1 when ``value != 0`` else 0."""
    return where(value, 1, 0)


def equal(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    """1 when ``a == b`` else 0."""
    if a == b:
        return 1
    return mul(sub(1, less(a, b)), sub(1, less(b, a)))


def ceil_div(a: ShapeExpr, b: ShapeExpr) -> ShapeExpr:
    """ceil(a / b) for any signs (b != 0)."""
    return sub(0, floordiv(sub(0, a), b))


def check_step(lowerer, node, conditions: Sequence[ShapeExpr]) -> None:
    """Append to ``lowerer.steps`` a step that fails unless every condition (a 0/1 ShapeExpr) is 1.

    A failed check makes the runner rerun ``node``'s ``perform`` on the
    values it saw, so the user gets NumPy's error.
    """
    checks = tuple((c, 1) for c in conditions if c != 1)
    if checks:
        lowerer.steps.append(ElementwiseKernel((), (), (), (), checks, node))

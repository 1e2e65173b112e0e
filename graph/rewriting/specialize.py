"""Specialize: general formulas become the specialized ops a backend runs fastest.

- ``A @ B`` plus a (scaled) addend becomes one ``Gemm`` (``x @ W + b``,
  ``W - lr * (a.T @ g)``); a matrix-vector product plus an addend becomes
  ``Gemv``.  Only when the product has no other reader (else the BLAS call
  would compute it twice) and every operand has the result's float dtype.
  The scales are the constants the graph multiplied by, so the fused op
  rounds exactly as the unfused nodes did.
- A sum of products that is a matrix or matrix-vector product
  (``sum(A[:, :, None] * B[None, :, :], axis=1)``, ``sum(A * v, axis=1)``)
  becomes a ``MatMul``: one BLAS call instead of a broadcast temporary of
  m*k*n elements.  Only for float dtypes; the summation order changes
  (BLAS accumulates differently), so results agree to rounding.
- ``inc_subtensor(zeros[idx], v) + b`` becomes ``inc_subtensor(b[idx], v)``:
  the gradient of several slices of one tensor (an LSTM's four gates)
  is a chain of increments of one buffer, which the inplace phase then
  updates in place, instead of a zero-padded copy per slice summed.
"""

from __future__ import annotations

import math

from theanine.graph.basic import Apply, Variable
from theanine.graph.fgraph import OUTPUT, FunctionGraph
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.linalg import MatMul, matmul
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.shape import DimShuffle
from theanine.graph.ops.shape_values import static_int
from theanine.graph.ops.subtensor import IncSubtensor, Subtensor, bind_index
from theanine.graph.rewriting.db import register
from theanine.graph.rewriting.rewriters import node_rewriter
from theanine.graph.rewriting.utils import elemwise_op, same_type, sole_reader, uniform_constant
from theanine.graph.type import is_float

__all__: list[str] = []

ADD, SUB, MUL, NEG, SECOND = (elemwise_op(n) for n in ("add", "subtract", "multiply", "negative", "second"))


def _scaled(var: Variable, sign: float) -> tuple[float, Variable]:
    """``(coefficient, term)`` with ``var == coefficient * term``: sees through one negation or
    one product with a uniform scalar constant (when the term already has ``var``'s type, so
    the constant was applied in that dtype)."""
    node = var.owner
    if node is not None and node.op == NEG:
        return -sign, node.inputs[0]
    if node is not None and node.op == MUL:
        for constant, term in (node.inputs, node.inputs[::-1]):
            value = uniform_constant(constant)
            if value is not None and all(d == 1 for d in constant.type.shape) and term.type == var.type:
                return sign * float(value), term
    return sign, var


def _two_terms(node: Apply) -> list[tuple[float, Variable]]:
    """The node ``a + b`` / ``a - b`` as two scaled terms."""
    first, second = node.inputs
    return [_scaled(first, 1.0), _scaled(second, -1.0 if node.op == SUB else 1.0)]


def _read_only_by(fgraph: FunctionGraph, product: Variable, node: Apply) -> bool:
    """Is ``node`` (directly, or through the one scaling product it reads) the only reader?"""
    if sole_reader(fgraph, product, node):
        return True
    readers = fgraph.clients.get(product, ())
    if len(readers) != 1 or readers.first()[0] == OUTPUT:
        return False
    scale = readers.first()[0].outputs[0]
    return scale in node.inputs and sole_reader(fgraph, scale, node)


def _blas_operands(product: Variable):
    """``(op_class, A, B)`` for a float MatMul of a matrix by a matrix (Gemm) or of a matrix and
    a vector in either order (Gemv; ``x @ A`` is ``A.T @ x``); else None."""
    owner = product.owner
    if owner is None or not isinstance(owner.op, MatMul) or not is_float(product.dtype):
        return None
    a, b = owner.inputs
    if a.dtype != b.dtype or a.dtype != product.dtype:
        return None
    if a.ndim == 2 and b.ndim in (1, 2):
        return (Gemm if b.ndim == 2 else Gemv), a, b
    if a.ndim == 1 and b.ndim == 2:
        return Gemv, DimShuffle((1, 0))(b), a
    return None


@register("specialize")
@node_rewriter([ADD, SUB], reads_clients=True)
def matmul_plus_to_gemm(node: Apply, fgraph: FunctionGraph):
    """``alpha * (A @ B) + beta * C`` -> ``Gemm(alpha, beta)(C, A, B)`` (``Gemv`` for a vector).

    Matches ``A @ B + C``, ``C - A @ B``, ``C - k * (A @ B)``, ``k1 * C + k2 * (A @ B)``
    (constants ``k`` uniform scalars) when the product has no other reader.
    """
    out = node.outputs[0]
    if not is_float(out.dtype):
        return None
    terms = _two_terms(node)
    for (alpha, product), (beta, addend) in (terms, terms[::-1]):
        operands = _blas_operands(product)
        if operands is None or {addend.dtype, product.dtype} != {out.dtype} or addend.ndim > out.ndim:
            continue
        if not _read_only_by(fgraph, product, node):
            continue
        op_class, a, b = operands
        if _zeros(addend) and alpha == 1 and same_type(out, product):
            return [product]  # a gradient's sum that starts from zeros: C would be read for nothing
        new = op_class(alpha, beta)(addend, a, b)
        if same_type(out, new):
            return [new]
    return None


@register("specialize")
@node_rewriter([ADD], reads_clients=True)
def add_of_increment_of_zeros(node: Apply, fgraph: FunctionGraph):
    """``inc_subtensor(zeros[idx], v) + b`` (or ``set_subtensor``) -> ``inc_subtensor(b[idx], v)`` when ``b``
    has the sum's type and the increment has no other reader."""
    out = node.outputs[0]
    for increment, other in (node.inputs, node.inputs[::-1]):
        owner = increment.owner
        if owner is None or not isinstance(owner.op, IncSubtensor):
            continue
        if not _zeros(owner.inputs[0]) or not same_type(other, out) or not sole_reader(fgraph, increment, node):
            continue
        new = IncSubtensor(owner.op.index)(other, *owner.inputs[1:])
        if same_type(out, new):
            return [new]
    return None


@register("specialize")
@node_rewriter([IncSubtensor])
def increment_of_zero_region(node: Apply):
    """``inc_subtensor(x[idx], v)`` -> ``set_subtensor(x[idx], v)`` when ``x`` is zero on ``idx``: ``x``
    is zeros, or writes regions of zeros that ``idx`` does not meet (constant basic indices).

    A gradient of several slices of one tensor (an LSTM's gates) sums increments of zeros; as
    sets, each is a plain copy that the kernel program can have its producer write in place.
    """
    if node.op.set_instead_of_inc:
        return None
    x, v, *parts = node.inputs
    region = _constant_region(node.op.index, parts, x.type.shape)
    if region is None or not _zero_on(x, region):
        return None
    return [IncSubtensor(node.op.index, set_instead_of_inc=True)(x, v, *parts)]


def _zero_on(x: Variable, region: list[tuple[int, float]], depth: int = 32) -> bool:
    """Whether ``x`` is zero on ``region``, following writes into zeros that miss it."""
    for _ in range(depth):
        if _zeros(x):
            return True
        owner = x.owner
        if owner is None or not isinstance(owner.op, IncSubtensor):
            return False
        written = _constant_region(owner.op.index, owner.inputs[2:], x.type.shape)
        if written is None or not any(hi <= lo2 or hi2 <= lo for (lo, hi), (lo2, hi2) in zip(region, written,
                                                                                            strict=True)):
            return False
        x = owner.inputs[0]
    return False


def _constant_region(index: tuple, parts, shape: tuple) -> list[tuple[int, float]] | None:
    """``[start, stop)`` per axis of a basic index of constant ints and unit-step slices (None for
    anything else, or for a negative bound on an axis of unknown length)."""
    bound = bind_index(index, parts)
    if any(entry[0] not in ("int", "slice", "ellipsis") for entry in bound):
        return None
    given = sum(entry[0] != "ellipsis" for entry in bound)
    region: list[tuple[int, float]] = []
    for entry in bound:
        if entry[0] == "ellipsis":
            region += [(0, math.inf)] * (len(shape) - given)
            continue
        length = shape[len(region)]
        if entry[0] == "int":
            first = _resolved(static_int(entry[1]), length)
            if first is None:
                return None
            region.append((first, first + 1))
            continue
        start, stop, step = (None if p is None else static_int(p) for p in entry[1:4])
        if (entry[3] is not None and step != 1) or (entry[1] is not None and start is None) or (
                entry[2] is not None and stop is None):
            return None
        first = 0 if start is None else _resolved(start, length)
        last = (math.inf if length is None else length) if stop is None else _resolved(stop, length)
        if first is None or last is None:
            return None
        region.append((first, last))
    region += [(0, math.inf)] * (len(shape) - len(region))
    return region


def _resolved(position: int | None, length: int | None) -> int | None:
    """A bound counted from the start (NumPy's wrap of a negative one needs the length)."""
    if position is None or position >= 0:
        return position
    return None if length is None else max(position + length, 0)


def _zeros(var: Variable) -> bool:
    """A constant zero tensor, or ``zeros_like``'s ``second(x, 0)``, or a view of one (a loop's
    gradient sum starts from ``zeros[None][-1]``)."""
    while var.owner is not None and isinstance(var.owner.op, (Subtensor, DimShuffle)):
        var = var.owner.inputs[0]
    if var.owner is not None and var.owner.op == SECOND:
        var = var.owner.inputs[1]
    value = uniform_constant(var)
    return value is not None and value == 0


# ---------------------------------------------------------------------------- sums of products


def _broadcast_source(var: Variable) -> tuple[Variable, tuple]:
    """``(source, pattern)`` when ``var`` is a DimShuffle of ``source`` (else the identity)."""
    if var.owner is not None and isinstance(var.owner.op, DimShuffle):
        return var.owner.inputs[0], var.owner.op.pattern
    return var, tuple(range(var.ndim))


def _as_operand(var: Variable, axes: tuple[int, ...]) -> Variable | None:
    """``var``'s source laid out with ``axes`` (positions in the product) as its dimensions,
    when ``var`` is broadcast ('x') on every other product axis; else None."""
    source, pattern = _broadcast_source(var)
    if any(pattern[i] != "x" for i in range(len(pattern)) if i not in axes):
        return None
    if any(pattern[i] == "x" for i in axes):
        return None
    order = [pattern[i] for i in axes]
    if sorted(order) != list(range(source.ndim)):
        return None
    return source if order == list(range(source.ndim)) else DimShuffle(order)(source)


def _product_axes(reduced: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (m, k) and (k, n) axes of a rank-3 product summed over ``reduced`` (m before n)."""
    others = [a for a in range(3) if a != reduced]
    return (others[0], reduced), (reduced, others[1])


def _matrix_product(x: Variable, y: Variable, reduced: int) -> Variable | None:
    """``x * y`` summed over ``reduced`` (rank 3) as ``A @ B``, trying both operand orders."""
    left, right = _product_axes(reduced)
    for first, second in ((x, y), (y, x)):
        a, b = _as_operand(first, left), _as_operand(second, right)
        if a is not None and b is not None:
            return matmul(a, b)
    return None


def _matrix_vector_product(x: Variable, y: Variable, reduced: int) -> Variable | None:
    """``x * y`` (rank 2, one side a broadcast vector) summed over ``reduced`` as a matmul."""
    kept = 1 - reduced
    for matrix, vector in ((x, y), (y, x)):
        v = _as_operand(vector, (reduced,))
        if v is None or matrix.type.shape[kept] == 1 or matrix.type.shape[reduced] == 1:
            continue
        m = matrix if reduced == 1 else DimShuffle((1, 0))(matrix)
        return matmul(m, v)
    return None


@register("specialize")
@node_rewriter([Reduce])
def sum_of_products_to_dot(node: Apply):
    """``sum(x * y, axis=k)`` that is a matrix product (rank 3, x broadcast along the last
    product axis and y along the first) or a matrix-vector product (rank 2) -> ``MatMul``.

    Pays off because BLAS never materializes the m*k*n product; vector dot products
    (rank 1) are left alone: the reduction loop already reads each input once.
    """
    (prod,) = node.inputs
    if node.op.kind != "sum" or node.op.dtype is not None or len(node.op.axes) != 1:
        return None
    if prod.owner is None or prod.owner.op != MUL or not is_float(prod.dtype):
        return None
    x, y = prod.owner.inputs
    if len({x.dtype, y.dtype, prod.dtype}) != 1 or prod.type.shape[node.op.axes[0]] == 1:
        return None
    (axis,) = node.op.axes
    builder = {3: _matrix_product, 2: _matrix_vector_product}.get(prod.ndim)
    new = builder(x, y, axis) if builder is not None else None
    if new is None or not same_type(node.outputs[0], new):
        return None
    return [new]

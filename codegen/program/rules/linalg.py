"""Lowering rules for products: MatMul, Gemm and Gemv.

float32/float64 matrix (and matrix-vector) products whose operands a BLAS
can read become ``GemmCall`` steps; Gemm's addend is first copied into the
output (or, for the inplace op, the output is the addend's own buffer).
Every other product (integer and bool dtypes, float16, mixed dtypes,
batches) is a ``ReduceKernel`` over (batch..., m, n, k) summing ``a * b``
along k: native loops, exact for integers, in NumPy's result dtype.
"""

from __future__ import annotations

from theanine.codegen.program.expressions import cast
from theanine.codegen.program.kernel_ir import Access, Arg, Call, ElementwiseKernel, GemmCall, ReduceKernel
from theanine.codegen.program.lowering import Lowerer, compose, destroyable, lowering
from theanine.graph.basic import Apply, Variable
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.linalg import MatMul


def _as_matrix(lowerer: Lowerer, var: Variable, vector_axis: int) -> Access:
    """A 2-D access of an operand; a vector becomes one row (``vector_axis`` 1) or one column (0).
    A matrix BLAS can read where it lies (``_blas_block``) is not copied first."""
    if var.ndim == 2 and _blas_block(lowerer, lowerer.ref(var)):
        return lowerer.ref(var)
    access = lowerer.plain_ref(var)
    if var.ndim == 2:
        return access
    picks = [None, 0] if vector_axis == 1 else [0, None]
    return compose(access, picks)


def _blas_layout(lowerer: Lowerer, access: Access) -> bool:
    """Whether BLAS can read the buffer through ``access`` (made C-contiguous by the runner)."""
    return (access.plain and sorted(access.axes, key=str) in ([0, 1], [0, None])) or _blas_block(lowerer, access)


def _blas_block(lowerer: Lowerer, access: Access) -> bool:
    """A matrix lying in a buffer's last two axes with unit steps, from any corner (a row of an RNN's
    history, a slice of rows): BLAS reads it in place, its leading dimension the buffer's row stride."""
    rank = len(lowerer.buffers[access.buffer].shape)
    return not access.steps and len(access.axes) == 2 and rank >= 2 and None not in access.axes \
        and sorted(access.axes) == [rank - 2, rank - 1]


def _batched_blas_layout(lowerer: Lowerer, access: Access) -> bool:
    """Whether BLAS can read each matrix of a batched operand: one of its two matrix axes (the
    access's last two) is the (C-contiguous) buffer's last axis, the other gives the leading
    dimension; the batch axes are read through their strides."""
    last = len(lowerer.buffers[access.buffer].shape) - 1
    rows, columns = access.axes[-2:]
    return access.plain and None not in (rows, columns) and last in (rows, columns) and rows != columns


def _matrix_dims(lowerer: Lowerer, var: Variable, vector_axis: int) -> tuple:
    shape = lowerer.shape(var)
    if var.ndim == 2:
        return shape
    return (1, shape[0]) if vector_axis == 1 else (shape[0], 1)


def _gemm_operands(lowerer: Lowerer, a: Variable, b: Variable):
    """(A access, B access, m, n, k, k of B) when BLAS can compute ``a @ b``, else None."""
    if a.ndim > 2 or b.ndim > 2 or a.dtype != b.dtype:
        return None
    out_dtype = a.dtype
    if not lowerer.supports("gemm", (a.dtype, b.dtype), out_dtype):
        return None
    access_a, access_b = _as_matrix(lowerer, a, 1), _as_matrix(lowerer, b, 0)
    if not (_blas_layout(lowerer, access_a) and _blas_layout(lowerer, access_b)):
        return None
    (m, k), (k_b, n) = _matrix_dims(lowerer, a, 1), _matrix_dims(lowerer, b, 0)
    return access_a, access_b, m, n, k, k_b


@lowering(MatMul)
def _lower_matmul(lowerer: Lowerer, node: Apply) -> bool:
    a, b = node.inputs
    (out,) = node.outputs
    if out.ndim > 2 and a.ndim >= 2 and b.ndim >= 2 and out.dtype == a.dtype:
        return _batched_gemm(lowerer, node) or _matmul_loops(lowerer, node)
    operands = _gemm_operands(lowerer, a, b) if out.dtype in (a.dtype,) else None
    if operands is None:
        return _matmul_loops(lowerer, node)
    access_a, access_b, m, n, k, k_b = operands
    shape = tuple(d for d, keep in ((m, a.ndim == 2), (n, b.ndim == 2)) if keep)
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(GemmCall(access_a, access_b, index, out.dtype, m, n, k, k_b, node))
    return True


def _batch_axes(lowerer: Lowerer, node: Apply) -> tuple[list, list, list, list]:
    """(batch shape, a's picks, b's picks, checks) of ``a @ b`` over NumPy-broadcast leading axes.

    A pick is the operand's axis feeding a batch axis, or None where the
    operand broadcasts (missing, or of static size 1) along it.
    """
    a, b = node.inputs
    (out,) = node.outputs
    a_shape, b_shape = lowerer.shape(a), lowerer.shape(b)
    rank = max(a.ndim, b.ndim, 2) - 2
    a_batch, b_batch = max(a.ndim - 2, 0), max(b.ndim - 2, 0)
    batch, a_picks, b_picks, checks = [], [], [], []
    for axis in range(rank):
        pa, pb = axis - (rank - a_batch), axis - (rank - b_batch)
        da = a_shape[pa] if pa >= 0 and a.type.shape[pa] != 1 else None
        db = b_shape[pb] if pb >= 0 and b.type.shape[pb] != 1 else None
        a_picks.append(pa if da is not None else None)
        b_picks.append(pb if db is not None else None)
        static = out.type.shape[axis]
        batch.append(static if static is not None else (da if da is not None else (db if db is not None else 1)))
        checks.extend((batch[-1], d) for d in (da, db) if d is not None and d != batch[-1])
    return batch, a_picks, b_picks, checks


def _batched_gemm(lowerer: Lowerer, node: Apply) -> bool:
    """A stack of products (both operands at least 2-D) as one GemmCall over the batch axes:
    its accesses keep the leading batch axes (None where an operand broadcasts)."""
    a, b = node.inputs
    (out,) = node.outputs
    if a.dtype != b.dtype or not lowerer.supports("gemm", (a.dtype, b.dtype), out.dtype):
        return False
    batch, a_picks, b_picks, checks = _batch_axes(lowerer, node)
    access_a = compose(lowerer.plain_ref(a), a_picks + [a.ndim - 2, a.ndim - 1])
    access_b = compose(lowerer.plain_ref(b), b_picks + [b.ndim - 2, b.ndim - 1])
    if not (_batched_blas_layout(lowerer, access_a) and _batched_blas_layout(lowerer, access_b)):
        return False
    (m, k), (k_b, n) = lowerer.shape(a)[-2:], lowerer.shape(b)[-2:]
    if checks:
        lowerer.steps.append(ElementwiseKernel((), (), (), (), tuple(checks), node))
    index = lowerer.bind_new(out, (*batch, m, n))
    lowerer.steps.append(GemmCall(access_a, access_b, index, out.dtype, m, n, k, k_b, node))
    return True


def _matmul_loops(lowerer: Lowerer, node: Apply) -> bool:
    """``out[..., i, j] = sum_k a[..., i, k] * b[..., k, j]`` as a reduction over a (batch, m, n, k) loop."""
    a, b = node.inputs
    (out,) = node.outputs
    dtype = out.dtype
    if not (lowerer.supports("multiply", (dtype, dtype), dtype) and lowerer.supports("reduce_add", (dtype,), dtype)):
        return False
    a_shape, b_shape = lowerer.shape(a), lowerer.shape(b)
    m = a_shape[-2] if a.ndim >= 2 else 1
    n = b_shape[-1] if b.ndim >= 2 else 1
    k = a_shape[-1]
    batch, a_picks, b_picks, checks = _batch_axes(lowerer, node)
    checks = [(k, b_shape[-2] if b.ndim >= 2 else b_shape[0]), *checks]
    a_picks += [a.ndim - 2 if a.ndim >= 2 else None, None, a.ndim - 1]
    b_picks += [None, b.ndim - 1 if b.ndim >= 2 else None, b.ndim - 2 if b.ndim >= 2 else 0]
    loop = (*batch, m, n, k)
    inputs = (compose(lowerer.ref(a), a_picks), compose(lowerer.ref(b), b_picks))
    product = Call("multiply", (cast(Arg(0, a.dtype), dtype), cast(Arg(1, b.dtype), dtype)), dtype)
    out_shape = tuple(batch) + ((m,) if a.ndim >= 2 else ()) + ((n,) if b.ndim >= 2 else ())
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(ReduceKernel(
        inputs, product, index, (len(loop) - 1,), "add", dtype, loop, tuple(checks), node,
    ))
    return True



@lowering(Gemm)
@lowering(Gemv)
def _lower_gemm(lowerer: Lowerer, node: Apply) -> bool:
    """``alpha * A @ B + beta * C``: C copied (broadcast) into the output, or destroyed in place
    (the result then has C's shape, checked equal to the product's: C's may be the better known); then BLAS."""
    c, a, b = node.inputs
    (out,) = node.outputs
    operands = _gemm_operands(lowerer, a, b)
    if operands is None:
        return False
    access_a, access_b, m, n, k, k_b = operands
    op = node.op
    shape = (m, n) if out.ndim == 2 else (m,)
    if op.beta == 0.0:
        index = lowerer.bind_new(out, shape)
    elif op.inplace and destroyable(lowerer, c):
        index = lowerer.overwrite(c)
        checks = tuple((d, s) for d, s in zip(shape, lowerer.shape(c), strict=False) if d != s)
        if checks:
            lowerer.steps.append(ElementwiseKernel((), (), (), (), checks, node))
        lowerer.bind(out, Access(index, tuple(range(out.ndim))), lowerer.shape(c))
    else:
        index = _copy_addend(lowerer, node, shape)
    lowerer.steps.append(GemmCall(access_a, access_b, index, out.dtype, m, n, k, k_b, node, op.alpha, op.beta))
    return True


def _copy_addend(lowerer: Lowerer, node: Apply, shape: tuple) -> int:
    """A new output buffer holding C broadcast to the product's shape (checked where C is not a static 1)."""
    c = node.inputs[0]
    out = node.outputs[0]
    c_shape = lowerer.shape(c)
    picks = [None if c.type.shape[a] == 1 else a for a in range(c.ndim)]
    checks = tuple((d, s) for d, s, p in zip(shape, c_shape, picks, strict=False) if p is not None and d != s)
    index = lowerer.bind_new(out, shape)
    lowerer.steps.append(ElementwiseKernel(
        (compose(lowerer.ref(c), picks),), (index,), (Arg(0, c.dtype),), shape, checks, node,
    ))
    return index


"""Linear algebra beyond products: inverses, determinants, solves and factorizations.

One op class, ``Linalg(kind, params)``, over a table with one row per
function: its NumPy/SciPy implementation (the specification, batched over
leading axes as ``np.linalg`` is), its output types, and its gradient where
one is defined (inv, det, slogdet, solve, solve_triangular, cholesky,
eigh), written with the table's own functions.  The rest (svd, qr, lstsq,
pinv, lu_factor, matrix_rank) have none, and asking for one raises.  No
printer has native code for them: every backend runs ``perform`` (the LLVM
backend as a host call into LAPACK through NumPy/SciPy).

Results are floats of the input's dtype (float64 for integer inputs).
Symmetric inputs (cholesky, eigh) are read from their lower triangle, as
LAPACK does; their gradients are symmetrized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.creation import eye
from theanine.graph.ops.dimshuffle import DimShuffle, expand_dims
from theanine.graph.ops.linalg import matmul
from theanine.graph.ops.math import cast
from theanine.graph.ops.numpy_like import diagonal, tril, triu
from theanine.graph.ops.shape_values import shape
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = [
    "Linalg", "inv", "det", "slogdet", "solve", "solve_triangular", "cholesky", "eigh", "svd", "qr",
    "lstsq", "pinv", "lu_factor", "matrix_rank",
]


@dataclass(frozen=True)
class _Row:
    """One linear-algebra function: how it computes, what it returns, and its gradient (or None)."""

    compute: Callable
    types: Callable
    grad: Callable | None = None
    nin: int = 1


def _float_dtype(dtype: str) -> str:
    return dtype if dtype.startswith("float") else "float64"


def _check_square(what: str, x) -> None:
    if x.ndim < 2:
        raise ValueError(f"{what}: expected a matrix (rank >= 2). Received: {x.type}")
    rows, cols = x.type.shape[-2:]
    if rows is not None and cols is not None and rows != cols:
        raise ValueError(f"{what}: expected square matrices. Received: {x.type}")


def _mT(x):
    """The transpose of the last two axes."""
    return DimShuffle(list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])(x)


def _scalar_per_matrix(g):
    """A batch of scalars lifted to broadcast over the matrices' two axes."""
    return expand_dims(expand_dims(g, -1), -1)


# ----------------------------------------------------------------------------- implementations


def _batched(fn, *arrays):
    """``fn`` applied to every matrix of a batch (SciPy's functions take single matrices)."""
    first = arrays[0]
    if first.ndim == 2:
        return fn(*arrays)
    batch = first.shape[:-2]
    results = [fn(*(a[index] for a in arrays)) for index in np.ndindex(*batch)]
    if isinstance(results[0], tuple):
        return tuple(np.stack(parts).reshape(batch + parts[0].shape) for parts in zip(*results, strict=True))
    return np.stack(results).reshape(batch + results[0].shape) if results else np.empty(batch + first.shape[-2:])


def _solve_triangular(a, b, lower):
    import scipy.linalg

    vector = b.ndim == a.ndim - 1
    b = b[..., None] if vector else b
    x = _batched(lambda m, v: scipy.linalg.solve_triangular(m, v, lower=lower), a, b)
    return x[..., 0] if vector else x


def _lu_factor(a):
    import scipy.linalg

    lu, pivots = _batched(scipy.linalg.lu_factor, a)
    return lu, pivots.astype("int32")


def _solve(a, b):
    return np.linalg.solve(a, b[..., None])[..., 0] if b.ndim == a.ndim - 1 else np.linalg.solve(a, b)


# ----------------------------------------------------------------------------- types


def _same(x, **params):
    return [(_float_dtype(x.dtype), x.type.shape)]


def _batch(x, **params):
    return [(_float_dtype(x.dtype), x.type.shape[:-2])]


def _like_b(a, b, **params):
    return [(_float_dtype(np.result_type(a.dtype, b.dtype).name), b.type.shape)]


def _small(m, n):
    return None if m is None or n is None else min(m, n)


def _svd_types(x, full_matrices, compute_uv):
    dtype, batch, (m, n) = _float_dtype(x.dtype), x.type.shape[:-2], x.type.shape[-2:]
    k = _small(m, n)
    s = (dtype, batch + (k,))
    if not compute_uv:
        return [s]
    return [(dtype, batch + (m, m if full_matrices else k)), s, (dtype, batch + (n if full_matrices else k, n))]


def _qr_types(x, mode):
    dtype, batch, (m, n) = _float_dtype(x.dtype), x.type.shape[:-2], x.type.shape[-2:]
    k = m if mode == "complete" else _small(m, n)
    return [(dtype, batch + (m, k)), (dtype, batch + (k, n))]


def _lstsq_types(a, b, rcond):
    return [(_float_dtype(np.result_type(a.dtype, b.dtype).name), a.type.shape[-1:] + b.type.shape[1:])]


# ----------------------------------------------------------------------------- gradients


def _inv_grad(inputs, outputs, grads, **params):
    inverse_t = _mT(outputs[0])
    return [-matmul(matmul(inverse_t, grads[0]), inverse_t)]


def _det_grad(inputs, outputs, grads, **params):
    return [_scalar_per_matrix(grads[0] * outputs[0]) * _mT(inv(inputs[0]))]


def _slogdet_grad(inputs, outputs, grads, **params):
    return [_scalar_per_matrix(grads[1]) * _mT(inv(inputs[0]))]


def _outer_last(u, v, a):
    """``u v^T`` per matrix of ``a``'s batch; ``u`` and ``v`` are matrices, or vectors (columns)
    when their rank is one less than ``a``'s."""
    if u.ndim == a.ndim:
        return matmul(u, _mT(v))
    return expand_dims(u, -1) * expand_dims(v, -2)


def _solve_grad(inputs, outputs, grads, **params):
    a, _ = inputs
    grad_b = solve(_mT(a), grads[0])
    return [-_outer_last(grad_b, outputs[0], a), grad_b]


def _solve_triangular_grad(inputs, outputs, grads, lower):
    a, _ = inputs
    grad_b = solve_triangular(_mT(a), grads[0], lower=not lower)
    grad_a = -_outer_last(grad_b, outputs[0], a)
    return [tril(grad_a) if lower else triu(grad_a), grad_b]


def _symmetrized(x):
    return (x + _mT(x)) * 0.5


def _cholesky_grad(inputs, outputs, grads, upper):
    """Murray (2016): ``A_bar = sym(L^-T Phi(L^T L_bar) L^-1)``, Phi the lower triangle, half diagonal."""
    factor, factor_bar = (_mT(outputs[0]), _mT(grads[0])) if upper else (outputs[0], grads[0])
    product = matmul(_mT(factor), factor_bar)
    phi = tril(product) - 0.5 * _diagonal_matrix(product)
    factor_inv = inv(factor)
    return [_symmetrized(matmul(matmul(_mT(factor_inv), phi), factor_inv))]


def _diagonal_matrix(x):
    """The diagonal of each matrix of ``x`` as a diagonal matrix."""
    n = shape(x)[x.ndim - 1]
    return expand_dims(diagonal(x, 0, x.ndim - 2, x.ndim - 1), -1) * eye(n, dtype=x.dtype)


def _eigh_grad(inputs, outputs, grads, **params):
    """``A_bar = sym(V (diag(w_bar) + F o (V^T V_bar)) V^T)``, ``F_ij = 1 / (w_j - w_i)`` off the diagonal."""
    w, v = outputs
    w_bar, v_bar = grads
    gaps = expand_dims(w, -2) - expand_dims(w, -1)
    n = shape(w)[w.ndim - 1]
    off_diagonal = 1 - eye(n, dtype=w.dtype)
    f = off_diagonal / (gaps + (1 - off_diagonal))
    inner = expand_dims(w_bar, -1) * eye(n, dtype=w.dtype) + f * matmul(_mT(v), v_bar)
    return [_symmetrized(matmul(matmul(v, inner), _mT(v)))]


ROWS: dict[str, _Row] = {
    "inv": _Row(lambda a: np.linalg.inv(a), _same, _inv_grad),
    "det": _Row(lambda a: np.linalg.det(a), _batch, _det_grad),
    "slogdet": _Row(lambda a: tuple(np.linalg.slogdet(a)), lambda x: _batch(x) * 2, _slogdet_grad),
    "solve": _Row(_solve, _like_b, _solve_grad, nin=2),
    "solve_triangular": _Row(_solve_triangular, _like_b, _solve_triangular_grad, nin=2),
    "cholesky": _Row(lambda a, upper: np.linalg.cholesky(a, upper=upper), _same, _cholesky_grad),
    "eigh": _Row(lambda a: tuple(np.linalg.eigh(a)),
                 lambda x: [(_float_dtype(x.dtype), x.type.shape[:-1]), (_float_dtype(x.dtype), x.type.shape)],
                 _eigh_grad),
    "svd": _Row(lambda a, full_matrices, compute_uv: np.linalg.svd(a, full_matrices, compute_uv), _svd_types),
    "qr": _Row(lambda a, mode: tuple(np.linalg.qr(a, mode=mode)), _qr_types),
    "lstsq": _Row(lambda a, b, rcond: np.linalg.lstsq(a, b, rcond=rcond)[0], _lstsq_types, nin=2),
    "pinv": _Row(lambda a, rcond: np.linalg.pinv(a, rcond=1e-15 if rcond is None else rcond),
                 lambda x, rcond: [(_float_dtype(x.dtype), x.type.shape[:-2] + x.type.shape[-2:][::-1])]),
    "lu_factor": _Row(_lu_factor, lambda x: [(_float_dtype(x.dtype), x.type.shape),
                                             ("int32", x.type.shape[:-2] + (_small(*x.type.shape[-2:]),))]),
    "matrix_rank": _Row(lambda a, tol: np.asarray(np.linalg.matrix_rank(a, tol=tol)),
                        lambda x, tol: [("int32", x.type.shape[:-2])]),
}


class Linalg(Op):
    """The linear-algebra function ``kind`` of ``ROWS`` with keyword ``params`` (a sorted tuple of pairs)."""

    __props__ = ("kind", "params")

    def __init__(self, kind: str, **params):
        if kind not in ROWS:
            raise ValueError(f"Linalg: unknown kind {kind!r}; expected one of {sorted(ROWS)}")
        self.kind = kind
        self.params = tuple(sorted(params.items()))

    def __str__(self) -> str:
        return self.kind if not self.params else f"{self.kind}{{{', '.join(f'{k}={v}' for k, v in self.params)}}}"

    @property
    def row(self) -> _Row:
        return ROWS[self.kind]

    def make_node(self, *inputs) -> Apply:
        inputs = [as_tensor_variable(x) for x in inputs]
        if len(inputs) != self.row.nin:
            raise TypeError(f"{self.kind} takes {self.row.nin} tensor(s). Received: {len(inputs)}")
        if inputs[0].ndim < 2:
            raise ValueError(f"{self.kind}: expected a matrix (rank >= 2). Received: {inputs[0].type}")
        types = self.row.types(*inputs, **dict(self.params))
        return Apply(self, inputs, [TensorType(dtype, shape_) for dtype, shape_ in types])

    def perform(self, node, inputs):
        work = [np.asarray(x, dtype=_float_dtype(x.dtype.name)) if x.dtype.kind in "biuf" else x for x in inputs]
        try:
            results = self.row.compute(*work, **dict(self.params))
        except np.linalg.LinAlgError as exc:
            shapes = ", ".join(str(x.shape) for x in inputs)
            raise np.linalg.LinAlgError(f"{self.kind} of input(s) of shape {shapes}: {exc}") from exc
        results = results if isinstance(results, tuple) else (results,)
        return [np.asarray(r, dtype=out.dtype) for r, out in zip(results, node.outputs, strict=True)]

    def infer_shape(self, node, input_shapes):
        return [tuple(o.shape[i] if d is None else d for i, d in enumerate(o.type.shape)) for o in node.outputs]

    def connection_pattern(self, node):
        """Float outputs depend on the inputs (asking for a gradient that is not there raises)."""
        return [[not out.dtype.startswith("int") for out in node.outputs] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        if self.row.grad is None:
            raise NotImplementedError(f"{self.kind} has no gradient in theanine")
        grads = self.row.grad(inputs, outputs, output_grads, **dict(self.params))
        return [None if g is None else cast(g, x.dtype) for g, x in zip(grads, inputs, strict=True)]


def inv(x):
    """The inverse of each square matrix."""
    x = as_tensor_variable(x)
    _check_square("inv", x)
    return Linalg("inv")(x)


def det(x):
    """The determinant of each square matrix."""
    x = as_tensor_variable(x)
    _check_square("det", x)
    return Linalg("det")(x)


def slogdet(x):
    """``(sign, log|det|)`` of each square matrix."""
    x = as_tensor_variable(x)
    _check_square("slogdet", x)
    return tuple(Linalg("slogdet").apply(x).outputs)


def solve(a, b):
    """``x`` with ``a @ x = b``; a vector ``b`` (rank of ``a`` minus one) gives a vector."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    _check_square("solve", a)
    if b.ndim not in (a.ndim, a.ndim - 1):
        raise ValueError(f"solve: b must have rank {a.ndim} or {a.ndim - 1} for a of {a.type}. Received: {b.type}")
    return Linalg("solve")(a, b)


def solve_triangular(a, b, lower: bool = False):
    """``solve`` for a triangular ``a`` (only its ``lower`` or upper triangle is read)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    _check_square("solve_triangular", a)
    if b.ndim not in (a.ndim, a.ndim - 1):
        raise ValueError(f"solve_triangular: b must have rank {a.ndim} or {a.ndim - 1} for a of {a.type}. "
                         f"Received: {b.type}")
    return Linalg("solve_triangular", lower=bool(lower))(a, b)


def cholesky(x, upper: bool = False):
    """The Cholesky factor of each symmetric positive-definite matrix (lower, or upper)."""
    x = as_tensor_variable(x)
    _check_square("cholesky", x)
    return Linalg("cholesky", upper=bool(upper))(x)


def eigh(x):
    """``(eigenvalues ascending, eigenvectors as columns)`` of each symmetric matrix."""
    x = as_tensor_variable(x)
    _check_square("eigh", x)
    return tuple(Linalg("eigh").apply(x).outputs)


def svd(x, full_matrices: bool = True, compute_uv: bool = True):
    """``(u, s, vh)``, or ``s`` alone, of each matrix."""
    node = Linalg("svd", full_matrices=bool(full_matrices), compute_uv=bool(compute_uv)).apply(x)
    return tuple(node.outputs) if compute_uv else node.outputs[0]


def qr(x, mode: str = "reduced"):
    """``(q, r)`` of each matrix; ``mode`` "reduced" or "complete"."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete'. Received: mode={mode!r}")
    return tuple(Linalg("qr", mode=mode).apply(x).outputs)


def lstsq(a, b, rcond=None):
    """The least-squares solution of ``a @ x = b`` for one matrix ``a``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim != 2 or b.ndim not in (1, 2):
        raise ValueError(f"lstsq: a must be a matrix and b a vector or matrix. Received: {a.type} and {b.type}")
    return Linalg("lstsq", rcond=rcond)(a, b)


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse of each matrix."""
    return Linalg("pinv", rcond=rcond)(x)


def lu_factor(x):
    """``(lu, pivots)`` as SciPy's ``lu_factor`` (pivots int32, 0-based), batched."""
    return tuple(Linalg("lu_factor").apply(x).outputs)


def matrix_rank(x, tol=None):
    """The rank of each matrix (int32)."""
    return Linalg("matrix_rank", tol=tol)(x)

"""Keras' ``ops.linalg``: the ``graph/ops/decompositions.py`` functions with Keras' names.

Gradients exist for ``inv``, ``det``, ``slogdet``, ``solve``,
``solve_triangular``, ``cholesky`` (and so ``cholesky_inverse``) and
``eigh``; the other factorizations raise when differentiated.  ``eig``
returns complex values, which theanine's real graph tensors cannot hold: it
lives in ``complex_values`` and runs on arrays only.  ``cdist`` (Keras'
pairwise Euclidean distances) sits here too.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops.eager import eager
from theanine.graph.ops import decompositions as D

__all__ = [
    "cdist", "cholesky", "cholesky_inverse", "det", "eigh", "inv", "lu_factor", "lstsq", "matrix_rank", "pinv",
    "qr", "slogdet", "solve", "solve_triangular", "svd",
]

cholesky = eager(D.cholesky)
det = eager(D.det)
eigh = eager(D.eigh)
inv = eager(D.inv)
lu_factor = eager(D.lu_factor)
lstsq = eager(D.lstsq)
matrix_rank = eager(D.matrix_rank)
pinv = eager(D.pinv)
qr = eager(D.qr)
slogdet = eager(D.slogdet)
solve = eager(D.solve)
solve_triangular = eager(D.solve_triangular)
svd = eager(D.svd)


@eager
def cholesky_inverse(x, upper: bool = False):
    """The inverse of ``L @ L.T`` (or ``U.T @ U``) from its Cholesky factor ``x``."""
    x = th.as_tensor_variable(x)
    identity = th.zeros_like(x) + th.eye(x.shape[-1], dtype=x.dtype)
    factor_inv = D.solve_triangular(x, identity, lower=not upper)
    transposed = th.swapaxes(factor_inv, -1, -2)
    return th.matmul(factor_inv, transposed) if upper else th.matmul(transposed, factor_inv)


@eager
def cdist(x, y):
    """Euclidean distances ``(..., m, n)`` between the rows of ``x`` ``(..., m, d)`` and ``y`` ``(..., n, d)``.

    Computed from the differences (not ``|x|^2 + |y|^2 - 2 x.y``), so equal rows give exactly 0."""
    x, y = th.as_tensor_variable(x), th.as_tensor_variable(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(f"ops.cdist expects tensors of rank >= 2 (..., rows, d). Received: {x.type} and {y.type}")
    differences = th.expand_dims(x, -2) - th.expand_dims(y, -3)
    return th.sqrt(th.sum(th.square(differences), axis=-1))

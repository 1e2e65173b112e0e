"""Keras' ``ops.linalg``: the ``graph/ops/decompositions.py`` functions with Keras' names.

Gradients exist for ``inv``, ``det``, ``slogdet``, ``solve``,
``solve_triangular``, ``cholesky`` (and so ``cholesky_inverse``) and
``eigh``; the other factorizations raise when differentiated.  ``eig`` is
not provided: its results are complex and theanine's tensors are real.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops.eager import eager
from theanine.graph.ops import decompositions as D

__all__ = [
    "cholesky", "cholesky_inverse", "det", "eigh", "inv", "lu_factor", "lstsq", "matrix_rank", "pinv",
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

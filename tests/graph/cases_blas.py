"""Op table rows for Gemm and Gemv: ``alpha * A @ B + beta * C`` (and its matrix-vector twin).

Rows cover float32/float64, a C that broadcasts (a row, a column, a scalar),
beta = 0 (C not read: a nan in it does not leak), negative scales, empty
inner dimensions and static shapes.  The inplace variants overwrite C, so
they are only built by the inplace phase and tested there
(tests/graph/rewriting/test_inplace.py).
"""

import numpy as np

from op_table import Case
from theanine.graph.ops.blas import Gemm, Gemv

R = np.random.default_rng(17)


def normal(*shape, dtype="float64"):
    return R.standard_normal(shape).astype(dtype)


def _gemm_ref(alpha, beta):
    def reference(c, a, b):
        product = np.matmul(a, b) * a.dtype.type(alpha)
        return product if beta == 0 else product + c * a.dtype.type(beta)

    return reference


def _row(case_id, op, c, a, b, **options):
    return Case(case_id, op, [c, a, b], _gemm_ref(op.alpha, op.beta), **options)


NAN_C = np.full((3, 2), np.nan)

CASES = [
    _row("gemm_f64", Gemm(0.5, 2.0), normal(3, 2), normal(3, 4), normal(4, 2)),
    _row("gemm_f32", Gemm(1.0, 1.0), normal(3, 2, dtype="float32"), normal(3, 4, dtype="float32"),
         normal(4, 2, dtype="float32")),
    _row("gemm_f32_negative_alpha", Gemm(-0.1, 1.0), normal(4, 3, dtype="float32"),
         normal(4, 5, dtype="float32"), normal(5, 3, dtype="float32")),
    _row("gemm_bias_row", Gemm(1.0, 1.0), normal(1, 2), normal(3, 4), normal(4, 2), static_shapes=True),
    _row("gemm_bias_column", Gemm(1.0, -1.0), normal(3, 1), normal(3, 4), normal(4, 2), static_shapes=True),
    _row("gemm_bias_vector", Gemm(2.0, 1.0), normal(2), normal(3, 4), normal(4, 2), static_shapes=True),
    _row("gemm_scalar_c", Gemm(1.0, 3.0), normal(), normal(3, 4), normal(4, 2)),
    Case("gemm_beta_zero_ignores_nan_c", Gemm(1.5, 0.0), [NAN_C, normal(3, 4), normal(4, 2)],
         _gemm_ref(1.5, 0.0), grad_inputs=(1, 2)),
    _row("gemm_empty_inner", Gemm(1.0, 1.0), normal(3, 2), normal(3, 0), normal(0, 2)),
    _row("gemv_f64", Gemv(0.5, 2.0), normal(3), normal(3, 4), normal(4)),
    _row("gemv_f32_broadcast_y", Gemv(1.0, 1.0), normal(1, dtype="float32"), normal(3, 4, dtype="float32"),
         normal(4, dtype="float32"), static_shapes=True),
]

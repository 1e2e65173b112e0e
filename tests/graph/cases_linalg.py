"""Op table rows for linear algebra: matmul, dot, tensordot, outer.

Rows cover np.matmul's 1-D promotions, batched products with broadcast
batch dimensions (static shapes, since only static 1s broadcast), empty
contractions, integer and bool dtypes, and mixed-dtype promotion.
"""

import numpy as np

import theanine as th
from op_table import Case

R = np.random.default_rng(11)


def normal(*shape, dtype="float64"):
    return R.standard_normal(shape).astype(dtype)


def ints(*shape, dtype="int8"):
    return R.integers(-3, 4, shape).astype(dtype)


def two(case_id, th_fn, np_fn, a, b, **options):
    """A row applying ``th_fn`` and its NumPy twin to the operands ``a`` and ``b``."""
    return Case(case_id, th_fn, [a, b], np_fn, **options)


STATIC = {"static_shapes": True}

CASES = [
    # matmul
    two("matmul_f32_2d", th.matmul, np.matmul, normal(3, 4, dtype="float32"),
        normal(4, 5, dtype="float32")),
    two("matmul_f64_2d", lambda a, b: a @ b, np.matmul, normal(3, 4), normal(4, 2)),
    two("matmul_1d_1d", th.matmul, np.matmul, normal(4), normal(4)),
    two("matmul_1d_2d", th.matmul, np.matmul, normal(4), normal(4, 3)),
    two("matmul_2d_1d", th.matmul, np.matmul, normal(3, 4), normal(4)),
    two("matmul_3d_1d", th.matmul, np.matmul, normal(2, 3, 4), normal(4)),
    two("matmul_1d_3d", th.matmul, np.matmul, normal(4), normal(2, 4, 3)),
    two("matmul_batched", th.matmul, np.matmul, normal(2, 3, 4), normal(2, 4, 5)),
    two("matmul_batch_broadcast_rank", th.matmul, np.matmul, normal(2, 3, 4), normal(4, 5),
        **STATIC),
    two("matmul_batch_broadcast_ones", th.matmul, np.matmul, normal(2, 1, 3, 4), normal(1, 5, 4, 2),
        **STATIC),
    two("matmul_batch_broadcast_left", th.matmul, np.matmul, normal(3, 4), normal(2, 2, 4, 5),
        **STATIC),
    two("matmul_empty_contraction", th.matmul, np.matmul, normal(3, 0), normal(0, 4)),
    two("matmul_empty_rows", th.matmul, np.matmul, normal(0, 3), normal(3, 2)),
    two("matmul_int8", th.matmul, np.matmul, ints(3, 4), ints(4, 2)),
    two("matmul_int32_batched", th.matmul, np.matmul, ints(2, 3, 4, dtype="int32"),
        ints(2, 4, 2, dtype="int32")),
    two("matmul_bool", th.matmul, np.matmul, R.random((3, 4)) > 0.5, R.random((4, 2)) > 0.5),
    two("matmul_int_float_promotes", th.matmul, np.matmul, ints(3, 4),
        normal(4, 2, dtype="float32")),
    two("matmul_f32_f64_promotes", th.matmul, np.matmul, normal(3, 4, dtype="float32"),
        normal(4, 2)),
    # dot
    two("dot_1d_1d", th.dot, np.dot, normal(5), normal(5)),
    two("dot_2d_1d", th.dot, np.dot, normal(3, 5), normal(5)),
    two("dot_1d_2d", th.dot, np.dot, normal(5), normal(5, 2)),
    two("dot_2d_2d_method", lambda a, b: a.dot(b), np.dot, normal(3, 5), normal(5, 2)),
    two("dot_3d_2d", th.dot, np.dot, normal(2, 3, 4), normal(4, 5)),
    two("dot_3d_1d", th.dot, np.dot, normal(2, 3, 4), normal(4)),
    two("dot_1d_3d", th.dot, np.dot, normal(3), normal(2, 3, 4)),
    two("dot_3d_3d", th.dot, np.dot, normal(2, 3, 4), normal(2, 4, 3)),
    two("dot_2d_3d_static", th.dot, np.dot, normal(3, 4), normal(2, 4, 3), **STATIC),
    two("dot_scalar_matrix", th.dot, np.dot, np.float64(1.5), normal(2, 3)),
    two("dot_int32", th.dot, np.dot, ints(3, 4, dtype="int32"), ints(4, dtype="int32")),
    two("dot_bool", th.dot, np.dot, R.random(4) > 0.5, R.random(4) > 0.5),
    # tensordot
    two("tensordot_default_axes2", th.tensordot, np.tensordot, normal(2, 3, 4), normal(3, 4, 5)),
    two("tensordot_default_axes2_static", th.tensordot, np.tensordot, normal(2, 3, 4),
        normal(3, 4, 5),
        **STATIC),
    two("tensordot_axes1", lambda a, b: th.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
        normal(2, 3, 4), normal(4, 2)),
    two("tensordot_axes0_outer", lambda a, b: th.tensordot(a, b, 0), lambda a,
        b: np.tensordot(a, b, 0),
        normal(2, 3), normal(4)),
    two("tensordot_axis_pairs", lambda a, b: th.tensordot(a, b, ([0, 2], [1, 0])),
        lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])), normal(2, 3, 4), normal(4, 2, 5)),
    two("tensordot_negative_axes", lambda a, b: th.tensordot(a, b, ([-1], [-2])),
        lambda a, b: np.tensordot(a, b, ([-1], [-2])), normal(3, 4), normal(2, 4, 5)),
    two("tensordot_all_axes_scalar", lambda a, b: th.tensordot(a, b, 2),
        lambda a, b: np.tensordot(a, b, 2), normal(3, 4), normal(3, 4)),
    two("tensordot_int16", lambda a, b: th.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
        ints(2, 3, dtype="int16"), ints(3, 4, dtype="int16")),
    two("tensordot_empty_free_axis", lambda a, b: th.tensordot(a, b, 1),
        lambda a, b: np.tensordot(a, b, 1), normal(0, 3), normal(3, 2)),
    # outer
    two("outer_1d", th.outer, np.outer, normal(3), normal(4)),
    two("outer_flattens_2d", th.outer, np.outer, normal(2, 3), normal(2)),
    two("outer_f32", th.outer, np.outer, normal(3, dtype="float32"), normal(2, dtype="float32")),
    two("outer_int8", th.outer, np.outer, ints(3), ints(2)),
    two("outer_bool", th.outer, np.outer, R.random(3) > 0.5, R.random(2) > 0.5),
]

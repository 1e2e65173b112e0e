"""Op table rows for creation ops: zeros, ones, full, *_like, arange, eye, one_hot.

Shapes come as ints and as sizes of other inputs (``a.shape[0]``); dtypes
follow the documented defaults (floatX for zeros/ones/eye/one_hot, NumPy's
rules for arange).  Gradients: the fill value of ``full`` and the float
bounds of ``arange`` (start and step; away from points where the length
changes).
"""

import numpy as np

import theanine as th
from op_table import Case

FLOATX = th.config.floatX
R = np.random.default_rng(5)
F64 = R.standard_normal((3, 4))
SCALAR = np.asarray(0.25)
STEP = np.asarray(0.5)
INDICES = np.array([[0, 2, -1], [3, 1, 7]], dtype="int32")


def _np_one_hot(indices, depth):
    return (indices[..., None] == np.arange(depth)).astype(FLOATX)


CASES = [
    Case(
        "zeros_static_default_floatx",
        lambda a: th.zeros((2, 3)) + a.sum(),
        [SCALAR],
        lambda a: np.zeros((2, 3), FLOATX) + a.sum(),
    ),
    Case(
        "zeros_symbolic_shape",
        lambda a: th.zeros((a.shape[0], 2), dtype="int32"),
        [F64],
        lambda a: np.zeros((a.shape[0], 2), "int32"),
        grad_inputs=(),
    ),
    Case(
        "ones_shape_vector_float64",
        lambda a: th.ones(a.shape, dtype="float64"),
        [F64],
        lambda a: np.ones(a.shape),
        grad_inputs=(),
    ),
    Case(
        "ones_int_shape_bool",
        lambda a: th.ones(3, dtype="bool"),
        [SCALAR],
        lambda a: np.ones(3, bool),
        grad_inputs=(),
    ),
    Case(
        "zeros_empty",
        lambda a: th.zeros((0, a.shape[1])),
        [F64],
        lambda a: np.zeros((0, 4), FLOATX),
        grad_inputs=(),
    ),
    Case(
        "full_symbolic_value", lambda v: th.full((2, 3), v), [SCALAR], lambda v: np.full((2, 3), v)
    ),
    Case(
        "full_vector_value_broadcasts",
        lambda v: th.full((2, 4), v),
        [np.ascontiguousarray(F64[0])],
        lambda v: np.full((2, 4), v),
    ),
    Case(
        "full_python_value_dtype",
        lambda a: th.full((a.shape[1],), 0.1, dtype="float64"),
        [F64],
        lambda a: np.full((4,), 0.1),
        grad_inputs=(),
    ),
    Case(
        "full_like_value",
        lambda a: th.full_like(a, 2.5),
        [F64],
        lambda a: np.full_like(a, 2.5),
        grad_inputs=(),
    ),
    Case("zeros_like_int", th.zeros_like, [INDICES], np.zeros_like),
    Case(
        "ones_like_dtype",
        lambda a: th.ones_like(a, dtype="float32"),
        [INDICES],
        lambda a: np.ones_like(a, dtype="float32"),
    ),
    Case("arange_symbolic_stop", th.arange, [np.asarray(5)], np.arange),
    Case(
        "arange_int32_bounds_give_int64",
        lambda a, b: th.arange(a, b, 2),
        [np.asarray(-3, "int32"), np.asarray(6, "int32")],
        lambda a, b: np.arange(a, b, 2),
    ),
    Case(
        "arange_negative_step",
        lambda a: th.arange(a, -2, -3),
        [np.asarray(7)],
        lambda a: np.arange(a, -2, -3),
    ),
    Case("arange_empty", lambda a: th.arange(a, 2), [np.asarray(5)], lambda a: np.arange(a, 2)),
    Case(
        "arange_float_start",
        lambda s: th.arange(s, 3.0, 0.5),
        [SCALAR],
        lambda s: np.arange(s, 3.0, 0.5),
    ),
    Case(
        "arange_float_start_step",
        lambda s, d: th.arange(s, 3.0, d) * 2.0,
        [SCALAR, STEP],
        lambda s, d: np.arange(s, 3.0, d) * 2.0,
    ),
    Case(
        "arange_float32_bound_gives_float64",
        lambda s: th.arange(s),
        [np.asarray(4.5, "float32")],
        lambda s: np.arange(s),
        grad_inputs=(),
    ),
    Case(
        "arange_explicit_dtype",
        lambda a: th.arange(1, a, dtype="float32"),
        [np.asarray(6)],
        lambda a: np.arange(1, a, dtype="float32"),
    ),
    Case(
        "arange_python_float_step",
        lambda a: th.arange(0, a, 0.1),
        [np.asarray(1)],
        lambda a: np.arange(0, a, 0.1),
    ),
    Case(
        "eye_square_default_floatx",
        lambda a: th.eye(3) * a,
        [SCALAR],
        lambda a: np.eye(3, dtype=FLOATX) * a,
        grad_inputs=(),
    ),
    Case(
        "eye_symbolic_n_offset",
        lambda n: th.eye(n, 5, k=2, dtype="int8"),
        [np.asarray(4)],
        lambda n: np.eye(n, 5, k=2, dtype="int8"),
    ),
    Case(
        "eye_negative_k_symbolic",
        lambda k: th.eye(3, 4, k=k, dtype="float64"),
        [np.asarray(-1)],
        lambda k: np.eye(3, 4, k=int(k)),
    ),
    Case(
        "eye_empty", lambda n: th.eye(n, 3), [np.asarray(0)], lambda n: np.eye(n, 3, dtype=FLOATX)
    ),
    Case(
        "one_hot_out_of_range_rows_zero",
        lambda i: th.one_hot(i, 4),
        [INDICES],
        lambda i: _np_one_hot(i, 4),
    ),
    Case(
        "one_hot_symbolic_depth_dtype",
        lambda i, d: th.one_hot(i, d, dtype="int64"),
        [np.ascontiguousarray(INDICES[0]), np.asarray(3)],
        lambda i, d: (i[:, None] == np.arange(d)).astype("int64"),
    ),
    Case(
        "one_hot_scalar_index",
        lambda i: th.one_hot(i, 3),
        [np.asarray(1, "uint8")],
        lambda i: _np_one_hot(i, 3),
    ),
]

"""Op table rows for indexing: basic views, gathers, masks, take, set/inc_subtensor."""

import numpy as np

import theanine as th
from op_table import Case, added_at, set_at

R = np.random.default_rng(5)
F64 = R.standard_normal((4, 5))
F32 = F64.astype("float32")
F16 = F64.astype("float16")
I8 = R.integers(-100, 100, (4, 5)).astype("int8")
I32 = R.integers(-100, 100, (4, 5)).astype("int32")
B = F64 > 0
T3 = R.standard_normal((3, 4, 5))
V = R.standard_normal(5)
REPEATED = np.array([0, 3, 0, -1, 0])
EMPTY = np.array([], dtype="int64")


CASES = [
    # basic indexing
    Case("getitem_int_f32", lambda x: x[1], [F32], lambda x: x[1]),
    Case("getitem_negative_int_f16", lambda x: x[-1, 2], [F16], lambda x: x[-1, 2]),
    Case("getitem_negative_steps_f64", lambda x: x[::-2, 3:0:-1], [F64], lambda x: x[::-2, 3:0:-1]),
    Case(
        "getitem_static_slice_f32",
        lambda x: x[1:-1, ::3],
        [F32],
        lambda x: x[1:-1, ::3],
        static_shapes=True,
    ),
    Case(
        "getitem_newaxis_ellipsis_f64",
        lambda x: x[None, ..., -1, None],
        [F64],
        lambda x: x[None, ..., -1, None],
    ),
    Case("getitem_empty_slice_f64", lambda x: x[3:1], [F64], lambda x: x[3:1], static_shapes=True),
    Case("getitem_int8", lambda x: x[1:, 0], [I8], lambda x: x[1:, 0]),
    Case("getitem_bool", lambda x: x[::-1, 2:], [B], lambda x: x[::-1, 2:]),
    Case("getitem_symbolic_int", lambda x, i: x[i, 1:], [F64, np.int64(-2)], lambda x, i: x[i, 1:]),
    Case(
        "getitem_symbolic_slice",
        lambda x, a, b, c: x[a:b:c],
        [F64, np.int32(-1), np.int32(0), np.int32(-2)],
        lambda x, a, b, c: x[a:b:c],
    ),
    # advanced indexing
    Case("gather_repeated_f64", lambda x, i: x[i], [F64, REPEATED], lambda x, i: x[i]),
    Case(
        "gather_axis1_f32",
        lambda x, i: x[:, i],
        [F32, np.array([[4, 0], [1, 1]])],
        lambda x, i: x[:, i],
    ),
    Case(
        "gather_broadcast_pair_f64",
        lambda x, i, j: x[i, j],
        [F64, np.array([[0], [3]]), np.array([1, 4, 1])],
        lambda x, i, j: x[i, j],
    ),
    Case(
        "gather_split_by_slice_f64",
        lambda x, i, j: x[i, :, j],
        [T3, np.array([2, 0, 2]), np.array([4, 4, 1])],
        lambda x, i, j: x[i, :, j],
    ),
    Case(
        "gather_int_and_array_f64",
        lambda x, i: x[:, 1, i],
        [T3, np.array([3, -5])],
        lambda x, i: x[:, 1, i],
    ),
    Case(
        "gather_uint8_indices_int32",
        lambda x, i: x[i],
        [I32, np.array([1, 1, 2], dtype="uint8")],
        lambda x, i: x[i],
    ),
    Case("gather_empty_f64", lambda x, i: x[i, 1:], [F64, EMPTY], lambda x, i: x[i, 1:]),
    Case(
        "gather_constant_list_f32",
        lambda x: x[[2, 0, 2], ::-1],
        [F32],
        lambda x: x[[2, 0, 2], ::-1],
        static_shapes=True,
    ),
    Case("mask_f64", lambda x, m: x[m], [F64, B], lambda x, m: x[m]),
    Case("mask_row_f32", lambda x, m: x[:, m], [F32, B[0]], lambda x, m: x[:, m]),
    Case(
        "take_flat_vector_f64",
        lambda x, i: th.take(x, i),
        [V, REPEATED],
        lambda x, i: np.take(x, i),
    ),
    Case(
        "take_axis1_f64",
        lambda x, i: th.take(x, i, axis=1),
        [F64, np.array([[4], [0]])],
        lambda x, i: np.take(x, i, axis=1),
    ),
    # functional updates
    Case(
        "set_basic_broadcast_row_f64",
        lambda x, v: th.set_subtensor(x[1:, ::-1], v),
        [F64, R.standard_normal((1, 5))],
        lambda x, v: set_at(x, (slice(1, None), slice(None, None, -1)), v),
        static_shapes=True,
    ),
    Case(
        "inc_basic_scalar_f32",
        lambda x, v: th.inc_subtensor(x[:, 2], v),
        [F32, np.float32(1.5)],
        lambda x, v: added_at(x, (slice(None), 2), v),
    ),
    Case(
        "inc_symbolic_int_f64",
        lambda x, v, i: th.inc_subtensor(x[i], v),
        [F64, V, np.int64(-1)],
        lambda x, v, i: added_at(x, i, v),
    ),
    Case(
        "inc_repeated_f64",
        lambda x, v, i: th.inc_subtensor(x[i], v),
        [F64, R.standard_normal((5, 5)), REPEATED],
        lambda x, v, i: added_at(x, i, v),
    ),
    Case(
        "inc_repeated_broadcast_f64",
        lambda x, v, i: th.inc_subtensor(x[:, i], v),
        [F64, R.standard_normal((4, 1)), REPEATED],
        lambda x, v, i: added_at(x, (slice(None), i), v),
        static_shapes=True,
    ),
    Case(
        "inc_pair_int32",
        lambda x, v, i, j: th.inc_subtensor(x[i, j], v),
        [I32, np.array([7, 8], dtype="int32"), np.array([1, 1]), np.array([2, 2])],
        lambda x, v, i, j: added_at(x, (i, j), v),
    ),
    Case(
        "inc_mask_scalar_f64",
        lambda x, m: th.inc_subtensor(x[m], 2.0),
        [F64, B],
        lambda x, m: added_at(x, m, 2.0),
    ),
    Case(
        "set_gather_unique_f64",
        lambda x, v, i: th.set_subtensor(x[:, i], v),
        [F64, R.standard_normal((4, 2)), np.array([3, 0])],
        lambda x, v, i: set_at(x, (slice(None), i), v),
    ),
    # last write wins; the gradient wrt v counts every write, so only x's gradient is checked
    Case(
        "set_gather_repeated_f64",
        lambda x, v, i: th.set_subtensor(x[i], v),
        [F64, R.standard_normal((5, 5)), REPEATED],
        lambda x, v, i: set_at(x, i, v),
        grad_inputs=(0,),
    ),
    Case(
        "set_empty_f32",
        lambda x, v: th.set_subtensor(x[2:2], v),
        [F32, np.zeros((0, 5), "float32")],
        lambda x, v: set_at(x, slice(2, 2), v),
    ),
    Case(
        "set_empty_gather_f64",
        lambda x, v, i: th.set_subtensor(x[i], v),
        [F64, np.zeros((0, 5)), EMPTY],
        lambda x, v, i: set_at(x, i, v),
    ),
]

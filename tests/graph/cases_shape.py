"""Op table rows for shape ops: reshape, flatten, squeeze, dimshuffle, concatenate,
stack, split, broadcast_to, repeat, tile, pad and symbolic shapes.

Rows cover dtypes (int, bool, float16, NumPy's promotion in concatenate),
0-size tensors, negative axes, -1 in reshape and shapes computed from other
tensors (``x.shape[0]``).  Rows that rely on a static size 1 broadcasting
(squeeze with axis=None, broadcast_to from size 1, repeat with an array)
use ``static_shapes=True``; the others also run with unknown dims.
"""

import numpy as np

import theanine as th
from op_table import Case

R = np.random.default_rng(11)
F64 = R.standard_normal((3, 4))
F32 = R.standard_normal((3, 4)).astype("float32")
F16 = R.standard_normal((2, 3)).astype("float16")
F64_3D = R.standard_normal((2, 3, 4))
I32 = R.integers(-9, 9, (3, 4)).astype("int32")
I8 = R.integers(-9, 9, (2, 3)).astype("int8")
BOOL = R.random((2, 3)) > 0.5
ROW = R.standard_normal((1, 4))
COL_3D = R.standard_normal((2, 1, 3, 1))
EMPTY = np.zeros((0, 3))
SCALAR = np.asarray(1.5)
VEC = R.standard_normal(5)
SHAPE_SOURCE = np.zeros((6, 2))
F64_LEFT = np.ascontiguousarray(F64[:, :3])
F64_HALF = np.ascontiguousarray(F64[:, :2])


def _ravel_then(fn):
    return lambda a: fn(a.reshape(-1))


def _split_weighted(a, parts, axis):
    """The split pieces recombined with distinct weights, so each piece's gradient is checked."""
    pieces = th.split(a, parts, axis=axis)
    return th.concatenate([p * (i + 1.0) for i, p in enumerate(pieces)], axis=axis)


def _np_split_weighted(a, parts, axis):
    pieces = np.split(a, parts, axis=axis)
    return np.concatenate([p * (i + 1.0) for i, p in enumerate(pieces)], axis=axis)


CASES = [
    # reshape
    Case("reshape_f64_2x6", lambda a: th.reshape(a, (2, 6)), [F64], lambda a: a.reshape(2, 6)),
    Case(
        "reshape_f32_minus1_first", lambda a: a.reshape((-1, 2)), [F32], lambda a: a.reshape(-1, 2)
    ),
    Case("reshape_method_varargs", lambda a: a.reshape(4, 3), [F64], lambda a: a.reshape(4, 3)),
    Case("reshape_int_to_flat", lambda a: th.reshape(a, 12), [I32], lambda a: a.reshape(12)),
    Case(
        "reshape_bool_3d", lambda a: th.reshape(a, (3, 1, 2)), [BOOL], lambda a: a.reshape(3, 1, 2)
    ),
    Case("reshape_f16", lambda a: th.reshape(a, (3, 2)), [F16], lambda a: a.reshape(3, 2)),
    Case(
        "reshape_symbolic_shape0_minus1",
        lambda a: a.reshape((a.shape[0], -1)),
        [F64_3D],
        lambda a: a.reshape(a.shape[0], -1),
    ),
    Case(
        "reshape_symbolic_shape_i_last",
        lambda a: th.reshape(a, (-1, th.shape_i(a, -1))),
        [F64_3D],
        lambda a: a.reshape(-1, a.shape[-1]),
    ),
    Case(
        "reshape_to_other_shape",
        lambda a, b: th.reshape(a, b.shape),
        [VEC.repeat(12)[:12], SHAPE_SOURCE],
        lambda a, b: a.reshape(b.shape),
        grad_inputs=[0],
    ),
    Case(
        "reshape_shape_vector_input",
        lambda a, s: th.reshape(a, s),
        [F64, np.array([6, -1])],
        lambda a, s: a.reshape(s),
        static_shapes=True,
    ),
    Case(
        "reshape_to_scalar",
        lambda a: th.reshape(a, ()),
        [np.ones((1, 1)) * 2.5],
        lambda a: a.reshape(()),
    ),
    Case(
        "reshape_scalar_to_1x1",
        lambda a: th.reshape(a, (1, 1)),
        [SCALAR],
        lambda a: a.reshape(1, 1),
    ),
    Case(
        "reshape_empty", lambda a: th.reshape(a, (3, 0, 1)), [EMPTY], lambda a: a.reshape(3, 0, 1)
    ),
    Case("flatten_ndim1", th.flatten, [F64_3D], np.ravel),
    Case(
        "flatten_ndim2", lambda a: th.flatten(a, 2), [F64_3D], lambda a: a.reshape(a.shape[0], -1)
    ),
    Case(
        "flatten_empty_rows",
        lambda a: th.flatten(a, 2),
        [np.zeros((0, 2, 3))],
        lambda a: a.reshape(0, 6),
    ),
    Case("ravel_int8", lambda a: a.ravel(), [I8], np.ravel),
    Case("flatten_scalar", th.flatten, [SCALAR], np.ravel),
    # squeeze / dimshuffle / transpose / expand_dims
    Case("squeeze_static_all", th.squeeze, [COL_3D], np.squeeze, static_shapes=True),
    Case(
        "squeeze_axis_unknown_size",
        lambda a: th.squeeze(a, axis=1),
        [COL_3D],
        lambda a: np.squeeze(a, axis=1),
    ),
    Case(
        "squeeze_negative_axes",
        lambda a: a.squeeze(axis=(-1, 1)),
        [COL_3D],
        lambda a: np.squeeze(a, axis=(-1, 1)),
        static_shapes=True,
    ),
    Case(
        "transpose_3d_axes",
        lambda a: th.transpose(a, (1, -1, 0)),
        [F64_3D],
        lambda a: np.transpose(a, (1, 2, 0)),
    ),
    Case("transpose_T_int", lambda a: a.T, [I32], lambda a: a.T),
    Case(
        "expand_dims_negative",
        lambda a: th.expand_dims(a, (0, -1)),
        [F64],
        lambda a: np.expand_dims(a, (0, -1)),
    ),
    Case(
        "dimshuffle_drop_and_insert",
        lambda a: a.dimshuffle(1, "x", 0),
        [ROW],
        lambda a: a.reshape(4)[:, None, None],
        static_shapes=True,
    ),
    # concatenate / stack
    Case(
        "concatenate_axis0",
        lambda a, b: th.concatenate([a, b]),
        [F64, ROW],
        lambda a, b: np.concatenate([a, b]),
    ),
    Case(
        "concatenate_negative_axis",
        lambda a, b: th.concatenate([a, a, b], axis=-1),
        [F64, F64_HALF],
        lambda a, b: np.concatenate([a, a, b], axis=-1),
    ),
    Case(
        "concatenate_int32_float32_promotes",
        lambda a, b: th.concatenate([a, b]),
        [I32, F32],
        lambda a, b: np.concatenate([a, b]),
    ),
    Case(
        "concatenate_bool_int8",
        lambda a, b: th.concatenate([a, b], axis=1),
        [BOOL, I8],
        lambda a, b: np.concatenate([a, b], axis=1),
    ),
    Case(
        "concatenate_with_empty",
        lambda a, b: th.concatenate([b, a, b]),
        [F64_LEFT, EMPTY],
        lambda a, b: np.concatenate([b, a, b]),
    ),
    Case(
        "concatenate_axis_none",
        lambda a, b: th.concatenate([a, b], axis=None),
        [F64, F64_3D],
        lambda a, b: np.concatenate([a, b], axis=None),
    ),
    Case(
        "concatenate_single",
        lambda a: th.concatenate([a], axis=1),
        [F16],
        lambda a: np.concatenate([a], axis=1),
    ),
    Case(
        "stack_axis0", lambda a, b: th.stack([a, b]), [F64, F64 * 2], lambda a, b: np.stack([a, b])
    ),
    Case(
        "stack_axis_last",
        lambda a, b: th.stack([a, b, a], axis=-1),
        [F64, F64 * 2],
        lambda a, b: np.stack([a, b, a], axis=-1),
    ),
    Case(
        "stack_scalars_mixed_dtypes",
        lambda a, b: th.stack([a, b, a]),
        [SCALAR, np.asarray(3, dtype="int32")],
        lambda a, b: np.stack([a, b, a]),
    ),
    Case(
        "stack_empty",
        lambda a: th.stack([a, a], axis=1),
        [EMPTY],
        lambda a: np.stack([a, a], axis=1),
    ),
    Case(
        "as_tensor_list_of_scalars",
        lambda a: th.as_tensor([a, a * 2.0]),
        [SCALAR],
        lambda a: np.stack([a, a * 2.0]),
    ),
    # split
    Case(
        "split_sections_outputs",
        lambda a: th.split(a, 2, axis=1),
        [F64],
        lambda a: np.split(a, 2, axis=1),
        grad_inputs=(),
    ),
    Case(
        "split_sections_weighted",
        lambda a: _split_weighted(a, 3, 0),
        [F64],
        lambda a: _np_split_weighted(a, 3, 0),
    ),
    Case(
        "split_indices_negative_axis",
        lambda a: _split_weighted(a, [1, 3], -1),
        [F64_3D],
        lambda a: _np_split_weighted(a, [1, 3], -1),
    ),
    Case(
        "split_indices_beyond_end",
        lambda a: th.split(a, [2, 10], axis=0),
        [VEC],
        lambda a: np.split(a, [2, 10]),
        grad_inputs=(),
    ),
    Case(
        "split_one_piece_used",
        lambda a: th.split(a, [1])[1] * 3.0,
        [F64],
        lambda a: np.split(a, [1])[1] * 3.0,
    ),
    Case(
        "split_int32_equal_indices",
        lambda a: th.split(a, [2, 2], axis=1),
        [I32],
        lambda a: np.split(a, [2, 2], axis=1),
    ),
    # broadcast_to
    Case(
        "broadcast_to_rows",
        lambda a: th.broadcast_to(a, (3, 4)),
        [ROW],
        lambda a: np.broadcast_to(a, (3, 4)),
        static_shapes=True,
    ),
    Case(
        "broadcast_to_new_leading_axes",
        lambda a: th.broadcast_to(a, (2, 3, 5)),
        [VEC],
        lambda a: np.broadcast_to(a, (2, 3, 5)),
    ),
    Case(
        "broadcast_to_symbolic_shape",
        lambda a, b: th.broadcast_to(a, (b.shape[0], 4)),
        [ROW, F64],
        lambda a, b: np.broadcast_to(a, (b.shape[0], 4)),
        grad_inputs=[0],
        static_shapes=True,
    ),
    Case(
        "broadcast_to_zero_size",
        lambda a: th.broadcast_to(a, (0, 4)),
        [ROW],
        lambda a: np.broadcast_to(a, (0, 4)),
        static_shapes=True,
    ),
    Case(
        "broadcast_to_int8",
        lambda a: th.broadcast_to(a, (2, 2, 3)),
        [I8],
        lambda a: np.broadcast_to(a, (2, 2, 3)),
    ),
    # repeat / tile / pad
    Case("repeat_axis_none", lambda a: th.repeat(a, 2), [F64], lambda a: np.repeat(a, 2)),
    Case(
        "repeat_axis1_method",
        lambda a: a.repeat(3, axis=1),
        [F64],
        lambda a: np.repeat(a, 3, axis=1),
    ),
    Case(
        "repeat_negative_axis_int",
        lambda a: th.repeat(a, 2, axis=-2),
        [I32],
        lambda a: np.repeat(a, 2, axis=-2),
    ),
    Case(
        "repeat_zero", lambda a: th.repeat(a, 0, axis=0), [F64], lambda a: np.repeat(a, 0, axis=0)
    ),
    Case(
        "repeat_array_counts",
        lambda a: th.repeat(a, [1, 0, 2, 3], axis=1),
        [F64],
        lambda a: np.repeat(a, [1, 0, 2, 3], axis=1),
        static_shapes=True,
    ),
    Case(
        "repeat_constant_counts",
        lambda a: th.repeat(a, th.constant(np.array([2, 1, 1])), axis=0),
        [F64],
        lambda a: np.repeat(a, [2, 1, 1], axis=0),
        static_shapes=True,
    ),
    Case("tile_int", lambda a: th.tile(a, 2), [F64], lambda a: np.tile(a, 2)),
    Case(
        "tile_more_reps_than_dims",
        lambda a: th.tile(a, (2, 1, 3)),
        [F64],
        lambda a: np.tile(a, (2, 1, 3)),
    ),
    Case(
        "tile_fewer_reps_than_dims",
        lambda a: th.tile(a, (2,)),
        [F64_3D],
        lambda a: np.tile(a, (2,)),
    ),
    Case("tile_zero_reps_bool", lambda a: th.tile(a, (0, 2)), [BOOL], lambda a: np.tile(a, (0, 2))),
    Case(
        "tile_static_one_axis",
        lambda a: th.tile(a, (3, 2)),
        [ROW],
        lambda a: np.tile(a, (3, 2)),
        static_shapes=True,
    ),
    Case(
        "pad_pairs_per_axis",
        lambda a: th.pad(a, ((1, 2), (0, 3))),
        [F64],
        lambda a: np.pad(a, ((1, 2), (0, 3))),
    ),
    Case(
        "pad_scalar_width_value",
        lambda a: th.pad(a, 1, constant_values=1.5),
        [F32],
        lambda a: np.pad(a, 1, constant_values=1.5),
    ),
    Case(
        "pad_int_value_truncates",
        lambda a: th.pad(a, (2, 1), constant_values=-1.7),
        [I32],
        lambda a: np.pad(a, (2, 1), constant_values=-1.7),
    ),
    Case(
        "pad_value_pairs",
        lambda a: th.pad(a, (1,), constant_values=((1, 2), (3, 4))),
        [F64],
        lambda a: np.pad(a, (1,), constant_values=((1, 2), (3, 4))),
    ),
    Case(
        "pad_symbolic_value",
        lambda a, v: th.pad(a, ((0, 1), (2, 0)), constant_values=v),
        [F64, SCALAR],
        lambda a, v: np.pad(a, ((0, 1), (2, 0)), constant_values=v),
    ),
    Case("pad_empty", lambda a: th.pad(a, 1), [EMPTY], lambda a: np.pad(a, 1)),
    # symbolic shapes as values
    Case("shape_vector", lambda a: a.shape, [F64_3D], lambda a: np.array(a.shape), grad_inputs=()),
    Case(
        "shape_of_scalar",
        th.shape,
        [SCALAR],
        lambda a: np.array(a.shape, dtype="int64"),
        grad_inputs=(),
    ),
    Case(
        "shape_i_negative",
        lambda a: th.shape_i(a, -1),
        [F64_3D],
        lambda a: np.int64(a.shape[-1]),
        grad_inputs=(),
    ),
    Case("size_of_empty", lambda a: a.size, [EMPTY], lambda a: np.int64(a.size), grad_inputs=()),
    Case("scale_by_size", lambda a: a / a.size.astype("float64"), [F64], lambda a: a / a.size),
]

"""Op table rows for reductions: sum, prod, max, min, all, any, argmax, argmin,
mean, var, std, logsumexp, cumsum, cumprod.

Rows cover NumPy's dtypes (int accumulation, bool counting, float16 means),
axis forms (None, int, negative, tuple, keepdims), empty axes, ties and zeros.
Where ties make the gradient a kink, ``grad_points`` moves off them (the
tie convention itself is asserted in test_reduce_linalg.py).
"""

import numpy as np
import scipy.special

import theanine as th
from op_table import Case

R = np.random.default_rng(7)
F64 = R.standard_normal((3, 4))
F32 = R.standard_normal((3, 4)).astype("float32")
F16 = R.standard_normal((3, 4)).astype("float16")
F64_3D = R.standard_normal((2, 3, 4))
I8 = R.integers(-5, 6, (3, 4)).astype("int8")
U8 = R.integers(0, 200, (3, 4)).astype("uint8")
I32 = R.integers(-100, 100, (3, 4)).astype("int32")
BOOL = R.random((3, 4)) > 0.5
EMPTY = np.zeros((0, 3))
POSITIVE = R.uniform(0.5, 1.5, (3, 4))
# row 0: no zero, row 1: one zero, row 2: two zeros
ZEROS = POSITIVE * np.array([[1, 1, 1, 1], [1, 0, 1, 1], [0, 1, 1, 0]])
ONE_ZERO = np.where(np.arange(12).reshape(3, 4) == 6, 0.0, POSITIVE)
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [5.0, 5.0, 0.0, 5.0], [-1.0, -1.0, -1.0, -1.0]])
UNTIED = TIES + np.arange(12).reshape(3, 4) * 1e-2
LARGE = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, 3.0]])
NEG_INF = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])


def _lse(axis=None, keepdims=False):
    return lambda a: scipy.special.logsumexp(a, axis=axis, keepdims=keepdims)


def pair(case_id, th_fn, np_fn, array, call=None, **options):
    """A row applying ``th_fn`` and its NumPy twin to ``array`` with the same ``call`` kwargs."""
    call = call or {}
    return Case(case_id, lambda x: th_fn(x, **call), [array], lambda a: np_fn(a, **call), **options)


NO_GRAD = {"grad_inputs": ()}

CASES = [
    # sum
    pair("sum_f32_all", th.sum, np.sum, F32),
    pair("sum_f64_axis0", th.sum, np.sum, F64, {"axis": 0}),
    pair("sum_f64_negaxis_keepdims", th.sum, np.sum, F64, {"axis": -1, "keepdims": True}),
    pair("sum_f64_3d_tuple_axes", th.sum, np.sum, F64_3D, {"axis": (0, -1)}),
    pair("sum_f64_3d_tuple_keepdims", th.sum, np.sum, F64_3D, {"axis": (2, 0), "keepdims": True},
         static_shapes=True),
    pair("sum_f16", th.sum, np.sum, F16, {"axis": 1}),
    pair("sum_int8_to_int64", th.sum, np.sum, I8, {"axis": 0}),
    pair("sum_uint8_to_uint64", th.sum, np.sum, U8),
    pair("sum_bool_counts", th.sum, np.sum, BOOL, {"axis": 1}),
    pair("sum_f32_dtype_f64", th.sum, np.sum, F32, {"axis": 1, "dtype": "float64"}),
    pair("sum_int8_dtype_int8", th.sum, np.sum, I8, {"dtype": "int8"}),
    pair("sum_empty_axis_is_zero", th.sum, np.sum, EMPTY, {"axis": 0}),
    pair("sum_empty_axis_static", th.sum, np.sum, EMPTY, {"axis": 0}, static_shapes=True),
    pair("sum_scalar", th.sum, np.sum, np.float64(2.5)),
    pair("sum_no_axes", th.sum, np.sum, F64, {"axis": ()}),
    Case("sum_method", lambda x: x.sum(axis=1), [F32], lambda a: a.sum(axis=1)),
    # prod
    pair("prod_f64_all", th.prod, np.prod, POSITIVE),
    pair("prod_f64_zeros_axis1", th.prod, np.prod, ZEROS, {"axis": 1}),
    pair("prod_f64_zeros_axis0_keepdims", th.prod, np.prod, ZEROS, {"axis": 0, "keepdims": True}),
    pair("prod_f64_three_zeros_all", th.prod, np.prod, ZEROS),
    pair("prod_f64_one_zero_all", th.prod, np.prod, ONE_ZERO),
    pair("prod_f32_tuple_axes", th.prod, np.prod, F64_3D.astype("float32"), {"axis": (0, 2)}),
    pair("prod_int16", th.prod, np.prod, I8.astype("int16"), {"axis": 1}),
    pair("prod_bool", th.prod, np.prod, BOOL, {"axis": 0}),
    pair("prod_empty_axis_is_one", th.prod, np.prod, EMPTY, {"axis": 0}),
    Case("prod_method", lambda x: x.prod(axis=0), [ZEROS], lambda a: a.prod(axis=0)),
    # max / min
    pair("max_f32_axis1", th.max, np.max, F32, {"axis": 1}),
    pair("max_f64_all", th.max, np.max, F64),
    pair("max_ties_axis1", th.max, np.max, TIES, {"axis": 1}, grad_points=[UNTIED]),
    pair("max_ties_all", th.max, np.max, TIES, grad_points=[UNTIED]),
    pair("max_3d_tuple_keepdims", th.max, np.max, F64_3D, {"axis": (0, 2), "keepdims": True}),
    pair("max_int8", th.max, np.max, I8, {"axis": 0}),
    pair("max_bool", th.max, np.max, BOOL, {"axis": 1}),
    pair("min_f64_negaxis", th.min, np.min, F64, {"axis": -2}),
    pair("min_ties_3d_tuple", th.min, np.min, np.round(F64_3D), {"axis": (1, 2)},
         grad_points=[F64_3D]),
    pair("min_uint8", th.min, np.min, U8),
    Case("max_method", lambda x: x.max(axis=0), [F32], lambda a: a.max(axis=0)),
    Case("min_method", lambda x: x.min(), [F32], lambda a: a.min()),
    # argmax / argmin
    pair("argmax_axis_none_flat", th.argmax, np.argmax, F64, **NO_GRAD),
    pair("argmax_3d_axis_none_keepdims", th.argmax, np.argmax, F64_3D, {"keepdims": True},
         **NO_GRAD),
    pair("argmax_ties_axis1", th.argmax, np.argmax, TIES, {"axis": 1}, **NO_GRAD),
    pair("argmax_negaxis_keepdims", th.argmax, np.argmax, F32, {"axis": -1, "keepdims": True},
         **NO_GRAD),
    pair("argmin_int32_axis0", th.argmin, np.argmin, I32, {"axis": 0}),
    pair("argmin_ties_all", th.argmin, np.argmin, TIES, **NO_GRAD),
    pair("argmax_bool", th.argmax, np.argmax, BOOL, {"axis": 1}),
    pair("argmax_empty_kept_axis", th.argmax, np.argmax, EMPTY, {"axis": 1}, **NO_GRAD),
    Case("argmax_method", lambda x: x.argmax(axis=1), [TIES], lambda a: a.argmax(axis=1),
         **NO_GRAD),
    Case("argmin_method", lambda x: x.argmin(axis=0), [I32], lambda a: a.argmin(axis=0)),
    # all / any
    pair("all_f64_axis1", th.all, np.all, ZEROS, {"axis": 1}, **NO_GRAD),
    pair("any_int8_all", th.any, np.any, I8 * 0),
    pair("all_bool_keepdims", th.all, np.all, BOOL, {"axis": 0, "keepdims": True}),
    pair("any_bool_tuple", th.any, np.any, BOOL, {"axis": (0, 1)}),
    pair("all_empty_is_true", th.all, np.all, EMPTY, {"axis": 0}, **NO_GRAD),
    pair("any_empty_is_false", th.any, np.any, EMPTY, {"axis": 0}, **NO_GRAD),
    Case("all_method", lambda x: x.all(axis=1), [BOOL], lambda a: a.all(axis=1)),
    Case("any_method", lambda x: x.any(), [I8], lambda a: a.any()),
    # mean / var / std
    pair("mean_f32_all", th.mean, np.mean, F32),
    pair("mean_f64_axis1_keepdims", th.mean, np.mean, F64, {"axis": 1, "keepdims": True}),
    pair("mean_f64_3d_tuple", th.mean, np.mean, F64_3D, {"axis": (0, 2)}),
    pair("mean_f64_3d_tuple_static", th.mean, np.mean, F64_3D, {"axis": (0, 2)},
         static_shapes=True),
    pair("mean_f16_accumulates_f32", th.mean, np.mean, F16, {"axis": 0}),
    pair("mean_int8_to_f64", th.mean, np.mean, I8, {"axis": 1}),
    pair("mean_bool_to_f64", th.mean, np.mean, BOOL),
    pair("mean_empty_is_nan", th.mean, np.mean, EMPTY, {"axis": 0}, **NO_GRAD),
    Case("mean_method", lambda x: x.mean(axis=-1), [F32], lambda a: a.mean(axis=-1)),
    pair("var_f64_all", th.var, np.var, F64),
    pair("var_f64_axis0_ddof1", th.var, np.var, F64, {"axis": 0, "ddof": 1}),
    pair("var_f64_ddof1_static", th.var, np.var, F64, {"axis": 1, "ddof": 1}, static_shapes=True),
    pair("var_f32_tuple_keepdims", th.var, np.var, F64_3D.astype("float32"),
         {"axis": (0, 1), "keepdims": True}),
    pair("var_int32_to_f64", th.var, np.var, I32, {"axis": 1}),
    pair("var_f16", th.var, np.var, F16, {"axis": 1}),
    pair("var_ddof_exceeds_count_is_inf", th.var, np.var, F64, {"axis": 0, "ddof": 5}, **NO_GRAD),
    Case("var_method", lambda x: x.var(axis=0, ddof=1), [F64], lambda a: a.var(axis=0, ddof=1)),
    pair("std_f64_axis1", th.std, np.std, F64, {"axis": 1}),
    pair("std_f32_ddof1_keepdims", th.std, np.std, F32, {"axis": 0, "keepdims": True, "ddof": 1}),
    pair("std_int8_to_f64", th.std, np.std, I8),
    Case("std_method", lambda x: x.std(ddof=1), [F64], lambda a: a.std(ddof=1)),
    # logsumexp
    Case("logsumexp_f64_all", th.logsumexp, [F64], _lse()),
    Case("logsumexp_f64_axis1", lambda x: th.logsumexp(x, axis=1), [F64], _lse(1)),
    Case("logsumexp_f32_tuple_keepdims", lambda x: th.logsumexp(x, axis=(0, 2), keepdims=True),
         [F64_3D.astype("float32")], _lse((0, 2), True)),
    Case("logsumexp_large_values", lambda x: th.logsumexp(x, axis=1), [LARGE], _lse(1)),
    Case("logsumexp_neg_inf_rows", lambda x: th.logsumexp(x, axis=1), [NEG_INF], _lse(1),
         **NO_GRAD),
    Case("logsumexp_int_to_f64", lambda x: th.logsumexp(x, axis=0), [I8], _lse(0)),
    Case("logsumexp_empty_axis_static", lambda x: th.logsumexp(x, axis=0), [EMPTY], _lse(0),
         static_shapes=True),
    # cumsum / cumprod
    pair("cumsum_f64_axis1", th.cumsum, np.cumsum, F64, {"axis": 1}),
    pair("cumsum_f32_negaxis", th.cumsum, np.cumsum, F32, {"axis": -2}),
    pair("cumsum_f64_axis_none_flattens", th.cumsum, np.cumsum, F64),
    pair("cumsum_f64_1d", th.cumsum, np.cumsum, F64[0]),
    pair("cumsum_int8_to_int64", th.cumsum, np.cumsum, I8, {"axis": 0}),
    pair("cumsum_bool_counts", th.cumsum, np.cumsum, BOOL, {"axis": 1}),
    pair("cumsum_empty", th.cumsum, np.cumsum, EMPTY, {"axis": 0}),
    Case("cumsum_method", lambda x: x.cumsum(axis=0), [F32], lambda a: a.cumsum(axis=0)),
    pair("cumprod_f64_axis1", th.cumprod, np.cumprod, POSITIVE, {"axis": 1}),
    pair("cumprod_f64_zeros_axis1", th.cumprod, np.cumprod, ZEROS, {"axis": 1}),
    pair("cumprod_f64_zeros_axis0", th.cumprod, np.cumprod, np.ascontiguousarray(ZEROS.T),
         {"axis": 0}),
    pair("cumprod_f64_3d_axis_none", th.cumprod, np.cumprod, F64_3D * 0.5 + 1),
    pair("cumprod_int32", th.cumprod, np.cumprod, I8.astype("int32"), {"axis": 1}),
    Case("cumprod_method", lambda x: x.cumprod(axis=-1), [ZEROS], lambda a: a.cumprod(axis=-1)),
]

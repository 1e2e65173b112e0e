"""Op table rows for th.max_pool and th.average_pool.

References are the explicit loops of tests/conv_reference.py.  Rows cover
1, 2 and 3 spatial axes; default strides (the pool size), overlapping and
uneven windows; "valid", "same" and explicit pads; dilation; both data
formats; float32/float64, and integers for max pooling (no gradient);
average pooling counting the padding or not.  Gradient points are random
normals, so no window has a tie for its maximum.  The ops still run as
NumPy host calls under the compiled backend (``host_calls``).
"""

import numpy as np

import conv_reference as ref
import theanine as th
from op_table import Case
from theanine.graph.ops.conv import Conv
from theanine.graph.ops.pool import MaxPool

R = np.random.default_rng(29)
HOST_CALLS = (Conv, MaxPool)


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _reference(kind, pool_size, strides, padding, dilation, data_format, count_include_pad=False):
    def reference(x):
        x = x if data_format == "channels_last" else np.moveaxis(x, 1, -1)
        rank = x.ndim - 2
        pool = _tuple(pool_size, rank)
        s, d = pool if strides is None else _tuple(strides, rank), _tuple(dilation, rank)
        if padding == "valid":
            pads = [(0, 0)] * rank
        elif padding == "same":
            pads = ref.same_pads(x.shape[1:-1], pool, s, d)
        else:
            pads = padding
        if kind == "max":
            out = ref.max_pool(x, pool, s, pads, d)
        else:
            out = ref.average_pool(x, pool, s, pads, d, count_include_pad)
        return out if data_format == "channels_last" else np.moveaxis(out, -1, 1)

    return reference


def pool_row(case_id, kind, shape, pool_size, strides=None, padding="valid", dilation=1,
             data_format="channels_last", dtype="float64", count_include_pad=False):
    if dtype.startswith("float"):
        x = R.standard_normal(shape).astype(dtype)
    else:
        x = R.integers(0, 200, shape).astype(dtype)
    if kind == "max":
        def build(v):
            return th.max_pool(v, pool_size, strides, padding, data_format, dilation)
    else:
        def build(v):
            return th.average_pool(v, pool_size, strides, padding, data_format, count_include_pad, dilation)
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {}
    return Case(case_id, build, [x], _reference(kind, pool_size, strides, padding, dilation, data_format,
                                                count_include_pad), host_calls=HOST_CALLS, **tolerance)


CASES = [
    pool_row("max_pool1d_default_strides", "max", (2, 7, 3), 2),
    pool_row("max_pool1d_same_stride2_f32", "max", (2, 7, 3), 3, 2, "same", dtype="float32"),
    pool_row("max_pool2d_valid_f64", "max", (2, 6, 5, 3), 2),
    pool_row("max_pool2d_overlapping_same_f32", "max", (2, 5, 6, 2), 3, 1, "same", dtype="float32"),
    pool_row("max_pool2d_explicit_pads_uneven", "max", (1, 5, 6, 2), (2, 3), (2, 1), ((1, 0), (2, 1))),
    pool_row("max_pool2d_dilation2", "max", (1, 7, 6, 2), 2, 1, "valid", dilation=2),
    pool_row("max_pool2d_channels_first", "max", (2, 3, 6, 6), 3, 2, "same", data_format="channels_first"),
    pool_row("max_pool2d_uint8", "max", (1, 5, 5, 2), 2, 1, "same", dtype="uint8"),
    pool_row("max_pool2d_int32_pads", "max", (1, 4, 4, 1), 3, 2, ((1, 1), (1, 1)), dtype="int32"),
    pool_row("max_pool3d_valid", "max", (1, 4, 4, 4, 2), 2),
    pool_row("max_pool3d_same_channels_first_f32", "max", (1, 2, 5, 4, 3), 2, None, "same",
             data_format="channels_first", dtype="float32"),
    pool_row("average_pool1d_valid", "average", (2, 8, 3), 3, 2),
    pool_row("average_pool2d_same_excludes_padding_f32", "average", (2, 5, 5, 2), 3, 2, "same", dtype="float32"),
    pool_row("average_pool2d_pads_excluded", "average", (1, 5, 6, 2), 3, 2, ((1, 1), (0, 2))),
    pool_row("average_pool2d_pads_counted", "average", (1, 5, 6, 2), 3, 2, ((1, 1), (0, 2)),
             count_include_pad=True),
    pool_row("average_pool2d_dilation_channels_first", "average", (1, 2, 7, 6), 2, 1, "valid", dilation=(2, 3),
             data_format="channels_first"),
    pool_row("average_pool3d_same", "average", (1, 5, 4, 3, 2), 2, None, "same"),
    pool_row("average_pool3d_valid_f32_channels_first", "average", (1, 2, 4, 4, 4), 2,
             data_format="channels_first", dtype="float32"),
]

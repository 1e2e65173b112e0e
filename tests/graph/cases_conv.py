"""Op table rows for th.conv, conv_transpose, depthwise_conv and separable_conv.

References are the explicit loops of tests/conv_reference.py.  Rows cover
1, 2 and 3 spatial axes; strides, dilation and groups; "valid", "same"
(with strides: its padding depends on the input size, which these rows
leave unknown until run time) and explicit pads; both data formats;
float32 and float64; Keras' transposed-convolution rules (output_padding
too) and ONNX's explicit pads.  The ops still run as NumPy host calls
under the compiled backend (``host_calls``).
"""

import numpy as np

import conv_reference as ref
import theanine as th
from op_table import Case
from theanine.graph.ops.conv import Conv, ConvTranspose

R = np.random.default_rng(23)
HOST_CALLS = (Conv, ConvTranspose)


def normal(shape, dtype):
    return R.standard_normal(shape).astype(dtype)


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _last(a, data_format):
    return a if data_format == "channels_last" else np.moveaxis(a, 1, -1)


def _back(a, data_format):
    return a if data_format == "channels_last" else np.moveaxis(a, -1, 1)


def _tolerance(dtype):
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {}


def conv_row(case_id, x_shape, k_shape, dtype="float64", strides=1, padding="valid", dilation=1, groups=1,
             data_format="channels_last"):
    rank = len(k_shape) - 2
    s, d = _tuple(strides, rank), _tuple(dilation, rank)

    def build(x, k):
        return th.conv(x, k, strides, padding, dilation, groups, data_format)

    def reference(x, k):
        x = _last(x, data_format)
        pads = {"valid": [(0, 0)] * rank, "same": None}.get(padding, padding) if isinstance(padding, str) else padding
        pads = ref.same_pads(x.shape[1:-1], k_shape[:rank], s, d) if pads is None else pads
        return _back(ref.conv(x, k, s, pads, d, groups), data_format)

    return Case(case_id, build, [normal(x_shape, dtype), normal(k_shape, dtype)], reference,
                host_calls=HOST_CALLS, **_tolerance(dtype))


def transpose_row(case_id, x_shape, k_shape, dtype="float64", strides=1, padding="valid", output_padding=None,
                  dilation=1, groups=1, data_format="channels_last"):
    rank = len(k_shape) - 2
    s, d = _tuple(strides, rank), _tuple(dilation, rank)
    extra = None if output_padding is None else _tuple(output_padding, rank)

    def build(x, k):
        k = th.reshape(k, k_shape)  # a weight's static shape; the input's stays unknown
        return th.conv_transpose(x, k, strides, padding, output_padding, dilation, groups, data_format)

    def reference(x, k):
        x = _last(x, data_format)
        if isinstance(padding, str):
            crops = ref.keras_transpose_crops(k_shape[:rank], s, d, padding, extra)
        else:
            crops = [(lo, hi - (extra[i] if extra else 0)) for i, (lo, hi) in enumerate(padding)]
        out = ref.conv_transpose(x, k, s, crops, d, groups)
        if isinstance(padding, str):
            expected = [ref.keras_transpose_length(n, kk, ss, dd, padding, None if extra is None else extra[i])
                        for i, (n, kk, ss, dd) in enumerate(zip(x.shape[1:-1], k_shape[:rank], s, d, strict=True))]
            assert list(out.shape[1:-1]) == expected, "reference disagrees with Keras' output size"
        return _back(out, data_format)

    return Case(case_id, build, [normal(x_shape, dtype), normal(k_shape, dtype)], reference,
                host_calls=HOST_CALLS, **_tolerance(dtype))


def _static(k_shape):
    """The kernel with its static shape (a weight's), the input's left unknown."""
    return lambda k: th.reshape(k, k_shape)


def _depthwise_reference(strides, padding, data_format="channels_last"):
    def reference(x, k):
        x = _last(x, data_format)
        rank = k.ndim - 2
        grouped = k.reshape(*k.shape[:-2], 1, -1)
        s = _tuple(strides, rank)
        pads = [(0, 0)] * rank if padding == "valid" else ref.same_pads(x.shape[1:-1], k.shape[:rank], s, (1,) * rank)
        return _back(ref.conv(x, grouped, s, pads, (1,) * rank, k.shape[-2]), data_format)

    return reference


def _separable_reference(x, dk, pk):
    depthwise = _depthwise_reference(1, "same")(x, dk)
    return ref.conv(depthwise, pk, (1, 1), [(0, 0), (0, 0)], (1, 1))


CASES = [
    conv_row("conv1d_valid_f64", (2, 7, 3), (3, 3, 4)),
    conv_row("conv1d_valid_f32", (2, 7, 3), (3, 3, 4), "float32"),
    conv_row("conv1d_stride3_dilation2", (2, 11, 2), (2, 2, 3), strides=3, dilation=2),
    conv_row("conv1d_same_stride2_odd_pad", (2, 8, 2), (4, 2, 3), strides=2, padding="same"),
    conv_row("conv2d_same_stride2_f32", (2, 7, 6, 3), (3, 3, 3, 4), "float32", strides=2, padding="same"),
    conv_row("conv2d_same_stride_2_1_f64", (2, 7, 6, 3), (3, 2, 3, 4), strides=(2, 1), padding="same"),
    conv_row("conv2d_explicit_pads_dilation2", (1, 6, 7, 2), (2, 3, 2, 3), padding=((1, 2), (0, 3)), dilation=2),
    conv_row("conv2d_groups2", (2, 5, 5, 4), (3, 3, 2, 6), groups=2),
    conv_row("conv2d_groups3_same_stride2_f32", (1, 6, 5, 6), (2, 2, 2, 3), "float32", strides=2,
             padding="same", groups=3),
    conv_row("conv2d_channels_first_f64", (2, 3, 6, 5), (3, 3, 3, 2), padding="same", data_format="channels_first"),
    conv_row("conv2d_channels_first_f32_stride2", (2, 2, 7, 7), (3, 3, 2, 3), "float32", strides=2,
             data_format="channels_first"),
    conv_row("conv3d_same_f64", (1, 4, 4, 3, 2), (2, 2, 2, 2, 3), padding="same"),
    conv_row("conv3d_valid_stride2_f32", (1, 5, 4, 5, 2), (2, 3, 2, 2, 2), "float32", strides=2),
    conv_row("conv3d_channels_first_dilation", (1, 2, 5, 4, 5), (2, 2, 2, 2, 2), dilation=(2, 1, 2),
             data_format="channels_first"),
    transpose_row("conv_transpose1d_valid", (2, 4, 3), (3, 2, 3)),
    transpose_row("conv_transpose1d_valid_stride_over_kernel", (2, 4, 3), (2, 2, 3), strides=3),
    transpose_row("conv_transpose2d_same_stride2_f32", (2, 3, 4, 3), (3, 3, 2, 3), "float32", strides=2,
                  padding="same"),
    transpose_row("conv_transpose2d_same_output_padding", (1, 3, 3, 2), (3, 3, 2, 2), strides=2, padding="same",
                  output_padding=1),
    transpose_row("conv_transpose2d_valid_output_padding", (1, 3, 3, 2), (3, 2, 2, 2), strides=(2, 3),
                  output_padding=(1, 2)),
    transpose_row("conv_transpose2d_dilation2_same", (1, 4, 3, 2), (2, 3, 3, 2), padding="same", dilation=2),
    transpose_row("conv_transpose2d_onnx_pads", (1, 3, 4, 2), (3, 3, 2, 2), strides=2, padding=((1, 2), (0, 1)),
                  output_padding=(1, 0)),
    transpose_row("conv_transpose2d_groups2_channels_first", (1, 4, 3, 3), (3, 3, 3, 4), strides=2, groups=2,
                  data_format="channels_first"),
    transpose_row("conv_transpose3d_same_f64", (1, 2, 3, 2, 2), (2, 2, 2, 3, 2), strides=2, padding="same"),
    transpose_row("conv_transpose3d_valid_f32", (1, 2, 2, 3, 2), (2, 3, 2, 2, 2), "float32"),
    Case("depthwise_conv2d_multiplier2", lambda x, k: th.depthwise_conv(x, _static((3, 3, 3, 2))(k), 2, "same"),
         [normal((2, 5, 6, 3), "float64"), normal((3, 3, 3, 2), "float64")], _depthwise_reference(2, "same"),
         host_calls=HOST_CALLS),
    Case("depthwise_conv1d_channels_first_f32",
         lambda x, k: th.depthwise_conv(x, _static((3, 3, 1))(k), 1, "valid", data_format="channels_first"),
         [normal((2, 3, 6), "float32"), normal((3, 3, 1), "float32")],
         _depthwise_reference(1, "valid", "channels_first"), host_calls=HOST_CALLS, rtol=1e-4, atol=1e-5),
    Case("separable_conv2d", lambda x, dk, pk: th.separable_conv(x, _static((3, 3, 2, 2))(dk), pk, 1, "same"),
         [normal((2, 5, 4, 2), "float64"), normal((3, 3, 2, 2), "float64"), normal((1, 1, 4, 3), "float64")],
         _separable_reference, host_calls=HOST_CALLS),
]

"""The ONNX element types theanine carries in a wider dtype (codegen/onnx/formats.py, import_casts.py).

A Cast to bfloat16, the float8 types, FLOAT4E2M1 and the 4- and 2-bit
integers rounds in the graph; its values must equal ml_dtypes' conversion
(which onnx's reference uses), bit for bit (the sign of zero and NaN
included), over every float16 value, the formats' rounding boundaries and
the specials, under every backend.  The loaded graph feeds and returns the
carried types as ml_dtypes arrays at its boundary.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")

import theanine as th  # noqa: E402
from theanine.codegen.onnx.formats import FLOAT8, FORMATS  # noqa: E402

TensorProto = onnx.TensorProto
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN and overflow casts made on purpose


def _cast_model(source: int, to: int, saturate: int | None = None, round_mode: str | None = None):
    attrs = {} if saturate is None else {"saturate": saturate}
    if round_mode is not None:
        attrs["round_mode"] = round_mode
    node = onnx.helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)
    graph = onnx.helper.make_graph([node], "cast", [onnx.helper.make_tensor_value_info("x", source, [None])],
                                   [onnx.helper.make_tensor_value_info("y", to, [None])])
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 25)])


def _run(model, values, backend):
    graph = th.onnx.load(model, input_shapes={"x": values.shape})
    f = th.function(graph.inputs, graph.outputs[0], backend=backend)
    return graph.result("y", f(graph.feed("x", values)))


def _float_inputs() -> np.ndarray:
    """Every float16 value, each float format's values and the midpoints between them (ties), and
    float32 values beyond float16's range."""
    values = [np.arange(2 ** 16, dtype=np.uint16).view(np.float16).astype(np.float32)]
    for code, fmt in FORMATS.items():
        if fmt.kind == "float" and code != 16:
            own = np.arange(2 ** 8, dtype=np.uint8).view(fmt.dtype).astype(np.float32)
            own = np.sort(own[np.isfinite(own)])
            values += [own, (own[1:] + own[:-1]) / 2, np.nextafter(own, np.float32(np.inf))]
    values.append(np.array([1e6, -1e6, 3e38, -3e38, 3.3895e38, 1e-40, -1e-40, 1e-7, -0.0, 0.0], np.float32))
    values.append(np.random.default_rng(0).standard_normal(2000).astype(np.float32) * 100)
    return np.concatenate(values)


def _same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype
    g, e = got.astype(np.float64), expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
    finite = ~np.isnan(e)
    np.testing.assert_array_equal(g[finite], e[finite])
    np.testing.assert_array_equal(np.signbit(g[finite]), np.signbit(e[finite]))


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
def test_cast_to_float8e8m0(round_mode, saturate, backend):
    """onnx's reference reads the float32 bits (numpy_helper.to_float8e8m0): subnormals, the largest
    exponents (saturation) and the rounding boundaries included."""
    tiny = np.array([0, 1, 2, 3, 2 ** 21, 2 ** 22, 2 ** 22 + 1, 2 ** 23 - 1, 2 ** 23], np.uint32).view(np.float32)
    big = np.array([2.0 ** 127, 2.0 ** 127 * 1.5, 2.0 ** 127 * 1.25, 3.4e38, 1.5, 1.4999, 3.0, 0.75], np.float32)
    x = np.concatenate([_float_inputs(), tiny, -tiny, big, -big])
    expected = onnx.numpy_helper.to_float8e8m0(x, bool(saturate), round_mode)
    _same_bits(_run(_cast_model(TensorProto.FLOAT, 24, saturate, round_mode), x, backend), expected)


FLOAT_FORMATS = sorted(code for code, fmt in FORMATS.items() if fmt.kind == "float")
INT_FORMATS = sorted(code for code, fmt in FORMATS.items() if fmt.kind == "int")


def test_the_table_matches_ml_dtypes():
    for code, fmt in FORMATS.items():
        assert onnx.helper.tensor_dtype_to_np_dtype(code) == fmt.dtype
        assert np.dtype(fmt.carrier).itemsize >= fmt.dtype.itemsize
        if fmt.kind != "int":
            info = ml_dtypes.finfo(fmt.dtype)
            assert (fmt.mantissa, fmt.max) == (info.nmant, float(info.max))
            assert fmt.min_exponent == (info.minexp if fmt.kind == "float" else np.log2(float(info.smallest_subnormal)))
        else:
            info = ml_dtypes.iinfo(fmt.dtype)
            assert (fmt.low, fmt.high) == (info.min, info.max)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to", FLOAT_FORMATS)
def test_cast_float32_to_a_float_format(to, saturate, backend):
    x = _float_inputs()
    if not FORMATS[to].has_nan:  # ml_dtypes makes FLOAT4E2M1 -0 of a NaN, but +0 of one with the sign bit set
        x = x[~(np.isnan(x) & np.signbit(x))]
    dtype = FORMATS[to].dtype
    expected = onnx.numpy_helper.saturate_cast(x, dtype) if saturate and to in FLOAT8 else x.astype(dtype)
    _same_bits(_run(_cast_model(TensorProto.FLOAT, to, saturate), x, backend), expected)


@pytest.mark.parametrize("to", FLOAT_FORMATS)
def test_cast_float64_and_integers_to_a_float_format(to):
    x = np.concatenate([_float_inputs().astype(np.float64), [1e300, -1e300, 1e-300]])
    x = x[~(np.isnan(x) & np.signbit(x))]
    _same_bits(_run(_cast_model(TensorProto.DOUBLE, to, 0), x, "numpy"), x.astype(FORMATS[to].dtype))
    ints = np.arange(-70000, 70000, 7, dtype=np.int32)
    _same_bits(_run(_cast_model(TensorProto.INT32, to, 0), ints, "numpy"), ints.astype(FORMATS[to].dtype))


@pytest.mark.parametrize("to", INT_FORMATS)
def test_cast_to_an_integer_format(to, backend):
    dtype = FORMATS[to].dtype
    floats = np.concatenate([np.arange(-20, 20, 0.25), [np.nan, np.inf, -np.inf, 1e30]]).astype(np.float32)
    got = _run(_cast_model(TensorProto.FLOAT, to), floats, backend)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.astype(np.int64), floats.astype(dtype).astype(np.int64))
    ints = np.arange(-300, 300, dtype=np.int16)  # fixed point: the low bits, two's complement
    got = _run(_cast_model(TensorProto.INT16, to), ints, backend)
    np.testing.assert_array_equal(got.astype(np.int64), ints.astype(dtype).astype(np.int64))


@pytest.mark.parametrize("source", [*FLOAT_FORMATS, *INT_FORMATS, 24])
def test_a_carried_input_is_fed_and_cast_exactly(source):
    values = np.arange(2 ** 8, dtype=np.uint8).view(FORMATS[source].dtype) if FORMATS[source].dtype.itemsize == 1 \
        else np.arange(0, 2 ** 16, 97, dtype=np.uint16).view(FORMATS[source].dtype)
    graph = th.onnx.load(_cast_model(source, TensorProto.DOUBLE), input_shapes={"x": values.shape})
    assert graph.formats == {"x": source} and graph.inputs[0].dtype == FORMATS[source].carrier
    got = th.function(graph.inputs, graph.outputs[0])(graph.feed("x", values))
    np.testing.assert_array_equal(got, values.astype(np.float64))


def test_ops_on_bfloat16_round_each_result():
    """An op on bfloat16 values computes in float32 and rounds its result, like ml_dtypes' arithmetic."""
    node = onnx.helper.make_node("Mul", ["x", "x"], ["y"])
    info = [onnx.helper.make_tensor_value_info(n, TensorProto.BFLOAT16, [None]) for n in "xy"]
    model = onnx.helper.make_model(onnx.helper.make_graph([node], "mul", info[:1], info[1:]))
    x = np.array([1.00390625, 3.0, -0.0, 1e38, np.nan], np.float32).astype(ml_dtypes.bfloat16)
    got = _run(model, x, "numpy")
    _same_bits(got, x * x)
    assert th.onnx.load(model).outputs[0].dtype == "float32"


def test_rounding_passes_the_gradient_straight_through(backend):
    """A cast to bfloat16 / float8 differentiates as the identity (the rounding would give 0), and
    compiles to the rounding alone."""
    node = onnx.helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E4M3FN)
    back = onnx.helper.make_node("Cast", ["y"], ["z"], to=TensorProto.FLOAT)
    info = [onnx.helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
            onnx.helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])]
    model = onnx.helper.make_model(onnx.helper.make_graph([node, back], "cast", info[:1], info[1:]))
    graph = th.onnx.load(model)
    x, (z,) = graph.inputs[0], graph.outputs
    f = th.function([x], [z, th.grad(th.sum(z * z), x)], backend=backend)
    values = np.array([0.3, -2.7, 500.0], np.float32)
    rounded, grad = f(values)
    np.testing.assert_array_equal(rounded, [0.3125, -2.75, 448.0])
    np.testing.assert_array_equal(grad, 2 * rounded)

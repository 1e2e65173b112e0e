"""Convolution and pooling ops: the parts the op table does not cover.

Values and first-order gradients of every option live in cases_conv.py and
cases_pool.py; here: the gradients are Conv/ConvTranspose graphs (and the
max-pool pair), second derivatives, R_op against finite differences, one
compiled function over several input sizes, the tie rule of max pooling,
shape inference, and build-time errors.
"""

import numpy as np
import pytest

import conv_reference as ref
import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.pool import MaxPool, MaxPoolGather, MaxPoolGrad

R = np.random.default_rng(5)
THIS_FILE = __file__


def normal(*shape):
    return R.standard_normal(shape)


def _heavy_ops(outputs) -> set:
    """Classes of the ops that compute on tensors (shape arithmetic and views left out)."""
    names = {"Conv", "ConvTranspose", "MaxPool", "MaxPoolGrad", "MaxPoolGather", "Elemwise", "Sum", "MatMul",
             "Softmax"}
    return {type(n.op).__name__ for n in apply_nodes(outputs) if type(n.op).__name__ in names}


def test_conv_gradients_are_conv_and_conv_transpose_graphs():
    x = th.tensor("x", "float64", (2, 7, 6, 4))
    k = th.tensor("k", "float64", (3, 3, 2, 6))
    y = th.conv(x, k, strides=2, padding="same", dilation=1, groups=2)
    gx, gk = th.grad((y * y).sum(), [x, k])
    heavy = _heavy_ops([th.grad(y.sum(), x), th.grad(y.sum(), k)])
    assert heavy <= {"Conv", "ConvTranspose", "Elemwise"}
    assert {type(n.op) for n in apply_nodes([gx]) if isinstance(n.op, (Conv, ConvTranspose))} == {Conv, ConvTranspose}
    assert gx.type.shape == x.type.shape and gk.type.shape == k.type.shape
    assert {type(n.op) for n in apply_nodes([th.grad(y.sum(), k)]) if isinstance(n.op, (Conv, ConvTranspose))} \
        == {Conv}


@pytest.mark.parametrize("options", [
    {"strides": 2, "padding": "same"},
    {"strides": (1, 2), "padding": ((1, 0), (2, 1)), "dilation": (2, 1)},
    {"padding": "valid", "groups": 2},
])
def test_second_derivatives_of_conv(options):
    x, k = normal(1, 4, 5, 4), normal(2, 2, 4 // options.get("groups", 1), 4) * 0.5
    wx, wk = normal(*x.shape), normal(*k.shape)

    def gradient_projection(a, b):
        ga, gb = th.grad((th.tanh(th.conv(a, b, **options)) ** 2).sum(), [a, b])
        return (ga * wx).sum() + (gb * wk).sum()

    th.verify_grad(gradient_projection, [x, k], backend="numpy")


def test_second_derivatives_of_conv_transpose():
    def fun(x, k):
        y = th.conv_transpose(x, k, strides=2, padding="same", output_padding=1)
        gx, gk = th.grad((th.sin(y) * y).sum(), [x, k])
        return (gx ** 2).sum() + (gk * gk).sum()

    th.verify_grad(fun, [normal(1, 3, 2, 2), normal(3, 3, 2, 2) * 0.5], backend="numpy")


def test_second_derivatives_of_max_pool_use_the_pool_pair():
    def fun(x):
        gx = th.grad((th.max_pool(x, 2, 1, "same") ** 3).sum(), x)
        return (gx * x).sum()

    x = th.tensor("x", "float64", (1, 4, 4, 2))
    heavy = _heavy_ops([th.grad(fun(x), x)])
    assert {"MaxPool", "MaxPoolGrad", "MaxPoolGather"} <= heavy
    th.verify_grad(fun, [normal(1, 4, 4, 2)], backend="numpy")


@pytest.mark.parametrize("build", [
    lambda x, k: th.conv(x, k, strides=2, padding="same"),
    lambda x, k: th.conv_transpose(x, k, strides=2, padding="valid"),
], ids=["conv", "conv_transpose"])
def test_r_op_matches_finite_differences(build):
    xv, kv, dx, dk = normal(2, 5, 4, 3), normal(3, 2, 3, 3), normal(2, 5, 4, 3), normal(3, 2, 3, 3)
    x, k = th.tensor("x", "float64", xv.shape), th.tensor("k", "float64", kv.shape)
    vx, vk = th.tensor("vx", "float64", xv.shape), th.tensor("vk", "float64", kv.shape)
    jv = th.function([x, k, vx, vk], th.Rop(build(x, k), [x, k], [vx, vk]))(xv, kv, dx, dk)
    f = th.function([x, k], build(x, k))
    eps = 1e-6
    numeric = (f(xv + eps * dx, kv + eps * dk) - f(xv - eps * dx, kv - eps * dk)) / (2 * eps)
    np.testing.assert_allclose(jv, numeric, rtol=1e-6, atol=1e-8)


def test_max_pool_r_op_reads_the_tangent_at_the_maxima():
    xv, v = normal(2, 6, 6, 3), normal(2, 6, 6, 3)
    x, t = th.tensor("x", "float64", xv.shape), th.tensor("t", "float64", xv.shape)
    jv = th.function([x, t], th.Rop(th.max_pool(x, 3, 2, "same"), x, t))(xv, v)
    eps = 1e-7
    f = th.function([x], th.max_pool(x, 3, 2, "same"))
    np.testing.assert_allclose(jv, (f(xv + eps * v) - f(xv - eps * v)) / (2 * eps), atol=1e-6)


def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window():
    x = th.tensor("x", "float64", (1, 2, 4, 1))
    values = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]]).reshape(1, 2, 4, 1)
    grad = th.function([x], th.grad((th.max_pool(x, 2) * np.array([10.0, 20.0]).reshape(1, 1, 2, 1)).sum(), x))
    expected = np.array([[0.0, 10.0, 0.0, 0.0], [0.0, 0.0, 20.0, 0.0]]).reshape(1, 2, 4, 1)
    np.testing.assert_array_equal(grad(values), expected)


@pytest.mark.parametrize("backend_name", ["numpy", "llvm"])
def test_one_function_serves_several_input_sizes(backend_name):
    x = th.tensor("x", "float32", (None, None, None, 2))
    k = th.tensor("k", "float32", (3, 3, 2, 4))
    y = th.max_pool(th.relu(th.conv(x, k, strides=2, padding="same")), 2, padding="same")
    cost = (y ** 2).sum()
    f = th.function([x, k], [y, *th.grad(cost, [x, k])], backend=backend_name)
    kv = normal(3, 3, 2, 4).astype("float32")
    for shape in [(2, 9, 7, 2), (1, 4, 5, 2)]:
        xv = normal(*shape).astype("float32")
        out, gx, gk = f(xv, kv)
        pads = ref.same_pads(shape[1:3], (3, 3), (2, 2), (1, 1))
        conv = np.maximum(ref.conv(xv, kv, (2, 2), pads, (1, 1)), 0)
        pooled = ref.max_pool(conv, (2, 2), (2, 2), ref.same_pads(conv.shape[1:3], (2, 2), (2, 2), (1, 1)), (1, 1))
        np.testing.assert_allclose(out, pooled, rtol=1e-5, atol=1e-5)
        xs = th.tensor("xs", "float32", shape)
        ys = th.max_pool(th.relu(th.conv(xs, k, strides=2, padding="same")), 2, padding="same")
        static = th.function([xs, k], th.grad((ys ** 2).sum(), [xs, k]), backend="numpy")(xv, kv)
        np.testing.assert_allclose(gx, static[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gk, static[1], rtol=1e-4, atol=1e-4)


def test_static_shapes_are_inferred_for_every_option():
    x = th.tensor("x", "float32", (None, 28, 28, 3))
    assert th.conv(x, th.tensor("k", "float32", (3, 3, 3, 8)), 2, "same").type.shape == (None, 14, 14, 8)
    assert th.conv(x, th.tensor("k", "float32", (5, 5, 1, 6)), 1, "valid", 2, 3).type.shape == (None, 20, 20, 6)
    t = th.tensor("t", "float32", (None, 7, 7, 4))
    assert th.conv_transpose(t, th.tensor("k", "float32", (3, 3, 2, 4)), 2, "same").type.shape == (None, 14, 14, 2)
    assert th.conv_transpose(t, th.tensor("k", "float32", (3, 3, 2, 4)), 2).type.shape == (None, 15, 15, 2)
    assert th.max_pool(x, 2).type.shape == (None, 14, 14, 3)
    assert th.average_pool(x, 3, 2, "same", "channels_last").type.shape == (None, 14, 14, 3)
    nchw = th.tensor("nchw", "float32", (4, 3, 9, None))
    assert th.conv(nchw, th.tensor("k", "float32", (3, 3, 3, 5)), data_format="channels_first").type.shape \
        == (4, 5, 7, None)


def test_infer_shape_gives_symbolic_sizes_for_unknown_inputs():
    x = th.tensor("x", "float64", (None, None, 5, 2))
    k = th.tensor("k", "float64", (3, 2, 2, 3))
    y = th.conv(x, k, strides=2, padding="same")
    size = th.function([x, k], y.shape)(np.zeros((3, 9, 5, 2)), np.zeros((3, 2, 2, 3)))
    np.testing.assert_array_equal(size, [3, 5, 3, 3])


def _raises_naming(error, match, build):
    with pytest.raises(error, match=match) as info:
        build()
    assert f"{THIS_FILE}:" in str(info.value), str(info.value)
    return str(info.value)


def test_errors_name_both_shapes_and_the_users_line():
    x = th.tensor("x", "float32", (None, 8, 8, 3))
    message = _raises_naming(ValueError, "channels", lambda: th.conv(x, th.tensor("k", "float32", (3, 3, 4, 8))))
    assert "(?, 8, 8, 3)" in message and "(3, 3, 4, 8)" in message
    message = _raises_naming(ValueError, "window spans 9", lambda: th.conv(x, th.tensor("k", "float32", (9, 3, 3, 8))))
    assert "(?, 8, 8, 3)" in message and "(9, 3, 3, 8)" in message
    for strides in (0, -1, (1, 0)):
        message = _raises_naming(ValueError, "strides", lambda s=strides: th.conv(x, th.ones((3, 3, 3, 2)), s))
        assert "(?, 8, 8, 3)" in message and "(3, 3, 3, 2)" in message
    _raises_naming(ValueError, "groups", lambda: th.conv(x, th.ones((3, 3, 1, 2)), groups=0))
    _raises_naming(ValueError, "pool_size", lambda: th.max_pool(x, 0))
    _raises_naming(ValueError, "window spans 9", lambda: th.max_pool(x, 9))
    _raises_naming(ValueError, "padding", lambda: th.conv(x, th.ones((3, 3, 3, 2)), padding="full"))
    _raises_naming(ValueError, "padding", lambda: th.conv(x, th.ones((3, 3, 3, 2)), padding=((1, -1), (0, 0))))
    _raises_naming(ValueError, "data_format", lambda: th.conv(x, th.ones((3, 3, 3, 2)), data_format="NHWC"))
    _raises_naming(ValueError, "rank", lambda: th.conv(x, th.ones((3, 3, 2))))
    _raises_naming(TypeError, "float", lambda: th.conv(th.tensor("i", "int32", (1, 4, 4, 1)), th.ones((2, 2, 1, 1))))
    message = _raises_naming(ValueError, "kernel maps from 5",
                             lambda: th.conv_transpose(x, th.tensor("k", "float32", (3, 3, 2, 5)), 2))
    assert "(?, 8, 8, 3)" in message


def test_run_time_sizes_are_checked_with_both_shapes():
    x = th.tensor("x", "float64", (None, None, None, 1))
    f = th.function([x], th.conv(x, th.ones((3, 3, 1, 1), dtype="float64")), backend="numpy")
    with pytest.raises(ValueError, match=r"window spans 3 .*\(1, 2, 5, 1\)"):
        f(np.zeros((1, 2, 5, 1)))


def test_ops_compare_by_their_parameters():
    assert Conv((1, 2), (1, 1), 1) == Conv((1, 2), (1, 1), 1)
    assert hash(Conv((1, 2), (1, 1), 1)) == hash(Conv((1, 2), (1, 1), 1))
    assert Conv((1, 2), (1, 1), 1) != ConvTranspose((1, 2), (1, 1), 1)
    assert MaxPool((2, 2), (2, 2), (1, 1)) != MaxPoolGrad((2, 2), (2, 2), (1, 1))
    assert str(MaxPoolGather((2,), (1,), (1,))) == "MaxPoolGather{pool_size=(2,), strides=(1,), dilation=(1,)}"

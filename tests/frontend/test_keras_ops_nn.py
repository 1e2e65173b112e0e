"""keras.ops nn: convolutions, pools, normalizations and attention, eager and compiled, against NumPy."""

import math

import numpy as np
import pytest
from keras_ops_check import check

import conv_reference as ref
import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(1)
IMG = RNG.normal(size=(2, 6, 5, 3)).astype("float32")
K = RNG.normal(size=(3, 2, 3, 4)).astype("float32")
X = RNG.normal(size=(3, 4, 5)).astype("float32")
EPS = 1e-7


def _adaptive(x, sizes, reduce):
    for offset, n in enumerate(sizes):
        axis, length = 1 + offset, x.shape[1 + offset]
        parts = [reduce(np.take(x, range(math.floor(i * length / n), math.ceil((i + 1) * length / n)), axis),
                        axis=axis, keepdims=True) for i in range(n)]
        x = np.concatenate(parts, axis)
    return x


def _layer_norm(x, gamma, beta, axes):
    mean = x.mean(axes, keepdims=True)
    var = (x * x).mean(axes, keepdims=True) - mean**2
    return (x - mean) / np.sqrt(var + 1e-7) * gamma + beta


def _attention(q, k, v, causal):
    logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    if causal:
        logits = np.where(np.tril(np.ones(logits.shape[-2:], bool)), logits, -1e30)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return np.einsum("bnts,bsnh->btnh", p / p.sum(-1, keepdims=True), v)


def _sparsemax(x):
    z = -np.sort(-x, axis=-1)
    cssv = np.cumsum(z, -1) - 1
    k = np.arange(1, x.shape[-1] + 1)
    support = z - cssv / k > 0
    rho = support.sum(-1, keepdims=True)
    tau = np.take_along_axis(cssv, rho - 1, -1) / rho
    return np.maximum(x - tau, 0)


Q, KK, VV = (RNG.normal(size=(2, s, 2, 4)).astype("float32") for s in (3, 3, 3))
STATS = RNG.normal(size=3).astype("float32"), RNG.uniform(0.5, 2, size=3).astype("float32")

CASES = {
    "conv_same_strided": (lambda x, k: ops.conv(x, k, strides=2, padding="same"), [IMG, K],
                          ref.conv(IMG, K, (2, 2), ref.same_pads((6, 5), (3, 2), (2, 2), (1, 1)), (1, 1))),
    "conv_dilated_channels_first": (
        lambda x, k: ops.conv(x, k, data_format="channels_first", dilation_rate=(2, 1)),
        [IMG.transpose(0, 3, 1, 2), K],
        ref.conv(IMG, K, (1, 1), [(0, 0), (0, 0)], (2, 1)).transpose(0, 3, 1, 2)),
    "depthwise_conv": (lambda x, k: ops.depthwise_conv(x, k), [IMG, K[:, :, :, :2]],
                       ref.conv(IMG, K[:, :, :, :2].reshape(3, 2, 1, 6), (1, 1), [(0, 0)] * 2, (1, 1), groups=3)),
    "conv_transpose": (lambda x, k: ops.conv_transpose(x, k, strides=2), [IMG, K.transpose(0, 1, 3, 2)],
                       ref.conv_transpose(IMG, K.transpose(0, 1, 3, 2), (2, 2),
                                          ref.keras_transpose_crops((3, 2), (2, 2), (1, 1), "valid"), (1, 1))),
    "max_pool": (lambda x: ops.max_pool(x, 2, padding="same"), [IMG],
                 ref.max_pool(IMG, (2, 2), (2, 2), ref.same_pads((6, 5), (2, 2), (2, 2), (1, 1)), (1, 1))),
    "average_pool": (lambda x: ops.average_pool(x, (3, 2), strides=1), [IMG],
                     ref.average_pool(IMG, (3, 2), (1, 1), [(0, 0)] * 2, (1, 1), False)),
    "adaptive_average_pool": (lambda x: ops.adaptive_average_pool(x, (4, 3)), [IMG], _adaptive(IMG, (4, 3), np.mean)),
    "adaptive_max_pool_1d": (lambda x: ops.adaptive_max_pool(x, 3), [X], _adaptive(X, (3,), np.max)),
    "moments": (lambda x: ops.moments(x, [0, 2]), [X], (X.mean((0, 2)), X.var((0, 2)))),
    "batch_normalization": (lambda x, m, v, g: ops.batch_normalization(x, m, v, axis=-1, scale=g, offset=m),
                            [IMG, *STATS, STATS[1]], (IMG - STATS[0]) / np.sqrt(STATS[1] + 1e-3) * STATS[1] + STATS[0]),
    "layer_normalization": (lambda x, g, b: ops.layer_normalization(x, g, b), [X, X[0, 0], X[1, 1]],
                            _layer_norm(X, X[0, 0], X[1, 1], -1)),
    "layer_normalization_axes": (lambda x: ops.layer_normalization(x, axis=[1, 2]), [X], _layer_norm(X, 1, 0, (1, 2))),
    "rms_normalization": (lambda x, s: ops.rms_normalization(x, s), [X, X[0, 0]],
                          X / np.sqrt((X * X).mean(-1, keepdims=True) + EPS) * X[0, 0]),
    "normalize_l2": (lambda x: ops.normalize(x, axis=1), [X], X / np.linalg.norm(X, axis=1, keepdims=True)),
    "normalize_l1": (lambda x: ops.normalize(x, order=1), [X], X / np.abs(X).sum(-1, keepdims=True)),
    "multi_hot": (lambda i: ops.multi_hot(i, 5), [np.array([[0, 3], [2, 2]])],
                  np.array([[1, 0, 0, 1, 0], [0, 0, 1, 0, 0]], "float32")),
    "psnr": (lambda a, b: ops.psnr(a, b, 2.0), [X, X * 0.9],
             20 * np.log10(2.0) - 10 * np.log10(np.mean((X * 0.1) ** 2))),
    "dot_product_attention": (lambda q, k, v: ops.dot_product_attention(q, k, v), [Q, KK, VV],
                              _attention(Q, KK, VV, False)),
    "dot_product_attention_causal": (lambda q, k, v: ops.dot_product_attention(q, k, v, is_causal=True),
                                     [Q, KK, VV], _attention(Q, KK, VV, True)),
    "sparsemax": (lambda x: ops.sparsemax(x), [X * 3], _sparsemax(X * 3)),
    "in_top_k": (lambda t, p: ops.in_top_k(t, p, 2), [np.array([0, 1, 2]), X[0, :3, :3]],
                 np.array([(X[0, i, :3] >= np.sort(X[0, i, :3])[-2])[t] for i, t in enumerate([0, 1, 2])])),
    "depth_to_space": (lambda x: ops.depth_to_space(x, 2), [IMG[:, :2, :2, :].repeat(4, -1)],
                       IMG[:, :2, :2, :].repeat(4, -1).reshape(2, 2, 2, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5)
                       .reshape(2, 4, 4, 3)),
    "space_to_depth": (lambda x: ops.space_to_depth(x, 2), [IMG[:, :4, :4]],
                       IMG[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 2, 12)),
    "log_sigmoid": (lambda x: ops.log_sigmoid(x), [X], -np.logaddexp(0, -X)),
    "hard_swish": (lambda x: ops.hard_swish(x), [X], X * np.clip(X / 6 + 0.5, 0, 1)),
    "glu": (lambda x: ops.glu(x), [X[:, :, :4]], X[:, :, :2] / (1 + np.exp(-X[:, :, 2:4]))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_nn_op_matches_numpy(name):
    op, args, expected = CASES[name]
    check(op, args, expected, rtol=1e-4, atol=1e-5)


def test_space_to_depth_inverts_depth_to_space_channels_first():
    x = RNG.normal(size=(1, 8, 2, 3)).astype("float32")
    back = ops.space_to_depth(ops.depth_to_space(x, 2, "channels_first"), 2, "channels_first")
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x: ops.layer_normalization(x, axis=-1), [(3, 4)]),
        (lambda x, m, v: ops.batch_normalization(x, m, v, axis=1, epsilon=0.1), [(3, 2), (2,), (2,)]),
        (lambda q, k, v: ops.dot_product_attention(q, k, v), [(1, 2, 1, 3)] * 3),
        (lambda x: ops.adaptive_average_pool(x, 2), [(1, 5, 2)]),
        (lambda x: ops.rms_normalization(x), [(2, 3)]),
    ],
)
def test_nn_gradients_by_finite_differences(fn, shapes):
    values = [RNG.normal(size=s) + (2.0 if i == 2 else 0.0) for i, s in enumerate(shapes)]
    th.verify_grad(lambda *xs: ops.sum(ops.sin(fn(*xs))), values, rng=RNG)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.conv(IMG, K, data_format="NHWC"), ValueError, "data_format must be"),
        (lambda: ops.adaptive_max_pool(IMG, (1, 2, 3)), ValueError, "output_size must be 2"),
        (lambda: ops.normalize(X, order=0), ValueError, "order must be an int >= 1"),
        (lambda: ops.multi_hot(np.array([1])), ValueError, "num_classes is required"),
        (lambda: ops.dot_product_attention(X, X, X), ValueError, "only supports 4D inputs"),
        (lambda: ops.psnr(X, X[0], 1.0), ValueError, "must match"),
        (lambda: ops.moments(X, 0, synchronized=True), NotImplementedError, "synchronized"),
    ],
)
def test_nn_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

"""The softmax-crossentropy family: fused forward op, fused gradient op, stable at 1e3-1e4."""

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.nnet import ClassMask, LogSoftmax, Softmax
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx

RNG = np.random.default_rng(9)
X = th.matrix("x", dtype="float32")
LABELS = th.vector("labels", dtype="int64")
TARGET = th.matrix("t", dtype="float32")
XV = (RNG.normal(size=(6, 5)) * 3).astype("float32")
LV = np.array([0, 4, 2, 1, 3, 9])  # 9 is out of range: 0 loss and 0 gradient, as unfused
TV = RNG.dirichlet(np.ones(5), size=6).astype("float32")

LOSSES = {
    "sparse_probabilities": lambda: th.sparse_categorical_crossentropy(LABELS, th.softmax(X)),
    "sparse_logits": lambda: th.sparse_categorical_crossentropy(LABELS, X, from_logits=True),
    "dense_probabilities": lambda: th.categorical_crossentropy(TARGET, th.softmax(X)),
    "dense_logits": lambda: th.categorical_crossentropy(TARGET, X, from_logits=True),
    "log_of_softmax": lambda: -th.sum(th.one_hot(LABELS, 5, dtype="float32") * th.log(th.softmax(X)), axis=1),
}


def _op_types(f):
    return [type(n.op) for n in apply_nodes(f.optimized_outputs)]


@pytest.mark.parametrize("form", sorted(LOSSES))
def test_loss_and_its_gradient_become_the_two_fused_ops(form, fast_run_check):
    loss = th.mean(LOSSES[form]())
    grad = th.grad(loss, X)
    fired = ["crossentropy_of_softmax", "crossentropy_softmax_grad", "crossentropy_dx_unbroadcast_dy"]
    for f in fast_run_check([X, LABELS, TARGET], [loss, grad], [XV, LV, TV], fired, rtol=1e-5, atol=1e-7):
        ops = _op_types(f)
        assert ops.count(CrossentropySoftmax) == 1 and ops.count(CrossentropySoftmaxDx) == 1, ops
        assert not {Softmax, LogSoftmax, ClassMask} & set(ops), ops


def test_sum_reduction_and_a_weighted_loss_keep_their_scale(fast_run_check):
    weights = th.vector("w", dtype="float32")
    loss = th.sum(weights * th.sparse_categorical_crossentropy(LABELS, th.softmax(X)))
    grad = th.grad(loss, X)
    wv = RNG.uniform(0.5, 2.0, size=6).astype("float32")
    fired = ["crossentropy_of_softmax", "crossentropy_softmax_grad"]
    fast_run_check([X, LABELS, weights], [loss, grad], [XV, LV, wv], fired, rtol=1e-5, atol=1e-6)


def test_class_axis_zero(fast_run_check):
    x = th.matrix("x", dtype="float64")
    loss = th.sum(th.sparse_categorical_crossentropy(LABELS, x, from_logits=True, axis=0))
    grad = th.grad(loss, x)
    xv, lv = RNG.normal(size=(5, 3)), np.array([4, 0, 2])
    fired = ["crossentropy_of_softmax", "crossentropy_softmax_grad"]
    fast_run_check([x, LABELS], [loss, grad], [xv, lv], fired, rtol=1e-12, atol=1e-15)


def test_logits_of_magnitude_1e4_give_the_true_finite_loss_and_gradient():
    loss = th.sum(th.sparse_categorical_crossentropy(LABELS, th.softmax(X)))
    grad = th.grad(loss, X)
    x = np.array([[1e4, -1e4, 0.0], [-3e3, 2e3, 1e3]], dtype="float32")
    labels = np.array([1, 0])
    for backend in ("numpy", "llvm"):
        got_loss, got_grad = th.function([X, LABELS], [loss, grad], backend=backend)(x, labels)
        log_p = scipy.special.log_softmax(x.astype("float64"), axis=1)
        np.testing.assert_allclose(got_loss, -log_p[[0, 1], labels].sum(), rtol=1e-6)
        expected = np.exp(log_p) - np.eye(3)[labels]
        np.testing.assert_allclose(got_grad, expected, atol=1e-6)
    naive_loss = th.function([X, LABELS], loss, mode="none", backend="numpy")(x, labels)
    assert naive_loss < 40  # the naive form is capped by Keras' clip at -log(1e-7) per example


def test_other_clip_bounds_or_other_reductions_are_not_rewritten():
    p = th.softmax(X)
    mask = th.one_hot(LABELS, 5, dtype="float32")
    clipped = -th.sum(mask * th.log(th.clip(p, 0.25, 0.75)), axis=1)
    product = th.max(mask * th.log_softmax(X), axis=1)
    f = th.function([X, LABELS], [clipped, product], backend="numpy")
    assert f.rewrite_report.fired.get("crossentropy_of_softmax", 0) == 0
    assert CrossentropySoftmax not in _op_types(f)
    expected = th.function([X, LABELS], [clipped, product], mode="none", backend="numpy")(XV, LV)
    for got, want in zip(f(XV, LV), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_softmax_gradient_with_another_loss_term_is_left_alone(fast_run_check):
    p = th.softmax(X)
    loss = th.sum(th.sparse_categorical_crossentropy(LABELS, p)) + th.sum(p * p)
    grad = th.grad(loss, X)
    (f, _) = fast_run_check([X, LABELS], [grad], [XV, LV], ["crossentropy_of_softmax"], rtol=1e-5, atol=1e-6)
    assert f.rewrite_report.fired.get("crossentropy_softmax_grad", 0) == 0


def test_the_mask_reads_the_logits_shape_instead_of_the_softmax(fast_run_check):
    p = th.softmax(X)
    mask = th.sum(th.one_hot(LABELS, 5, dtype="float32"), axis=0) + th.sum(
        th.graph.ops.nnet.ClassMask(1)(LABELS, p), axis=0
    )
    (f, _) = fast_run_check([X, LABELS], [mask], [XV, LV], ["class_mask_like_logits"])
    assert Softmax not in _op_types(f)


def test_fused_ops_reject_mismatched_inputs():
    with pytest.raises(TypeError, match="labels must be integers"):
        CrossentropySoftmax(1, True)(X, TARGET)
    with pytest.raises(TypeError, match="labels of shape"):
        CrossentropySoftmax(1, True)(X, TARGET.astype("int64"))
    with pytest.raises(TypeError, match="dy must be a float32 tensor"):
        CrossentropySoftmaxDx(1, False)(X, X, TARGET)
    with pytest.raises(ValueError, match="labels have shape"):
        th.function([X, LABELS], CrossentropySoftmax(1, True)(X, LABELS), backend="numpy")(XV, LV[:2])

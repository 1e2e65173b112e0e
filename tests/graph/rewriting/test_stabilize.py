"""Stabilize: with logits of magnitude 1e3..1e4 the naive formulas give inf/nan, the rewritten ones
the right finite values (checked against closed forms computed stably in NumPy/SciPy)."""

import numpy as np
import scipy.special

import theanine as th

BIG = np.array([-1e4, -3e3, -1e3, -1.5, 0.0, 2.0, 1e3, 5e3, 1e4])


def _both(x, y):
    fast = th.function([x], y)
    naive = th.function([x], y, mode="none")
    return fast, naive


def test_log_of_softmax_becomes_log_softmax():
    x = th.matrix("x", dtype="float64")
    fast, naive = _both(x, th.log(th.softmax(x, axis=1)))
    assert fast.rewrite_report.fired["log_of_softmax"] == 1
    logits = np.stack([BIG, BIG[::-1]])
    expected = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
    assert np.isinf(naive(logits)).any()
    np.testing.assert_allclose(fast(logits), expected, rtol=1e-12)


def test_log_of_sigmoid_becomes_minus_softplus():
    x = th.vector("x", dtype="float64")
    fast, naive = _both(x, th.log(th.sigmoid(x)))
    assert fast.rewrite_report.fired["log_sigmoid"] == 1
    assert np.isinf(naive(BIG)).any()
    np.testing.assert_allclose(fast(BIG), -np.logaddexp(0, -BIG), rtol=1e-12)


def test_log_of_one_minus_sigmoid_becomes_minus_softplus():
    x = th.vector("x", dtype="float64")
    fast, naive = _both(x, th.log(1.0 - th.sigmoid(x)))
    assert fast.rewrite_report.fired["one_minus_sigmoid"] == 1
    assert fast.rewrite_report.fired["log_sigmoid"] == 1
    assert np.isinf(naive(BIG)).any()
    np.testing.assert_allclose(fast(BIG), -np.logaddexp(0, BIG), rtol=1e-12)


def test_log_of_one_plus_becomes_log1p():
    x = th.vector("x", dtype="float64")
    fast, naive = _both(x, th.log(1.0 + x))
    assert fast.rewrite_report.fired["log1p"] == 1
    tiny = np.array([1e-20, -1e-18, 3e-17])
    assert (naive(tiny) == 0).all()
    np.testing.assert_allclose(fast(tiny), np.log1p(tiny), rtol=1e-15)


def test_exp_minus_one_becomes_expm1():
    x = th.vector("x", dtype="float64")
    fast, naive = _both(x, th.exp(x) - 1.0)
    assert fast.rewrite_report.fired["expm1"] == 1
    tiny = np.array([1e-20, -1e-18, 3e-17])
    assert (naive(tiny) == 0).all()
    np.testing.assert_allclose(fast(tiny), np.expm1(tiny), rtol=1e-15)


def test_log_of_sum_of_exp_becomes_logsumexp():
    x = th.matrix("x", dtype="float64")
    fast, naive = _both(x, th.log(th.sum(th.exp(x), axis=1)))
    assert fast.rewrite_report.fired["log_of_sum_of_exp"] == 1
    logits = np.stack([BIG, BIG / 10])
    assert np.isinf(naive(logits)).all()
    np.testing.assert_allclose(fast(logits), scipy.special.logsumexp(logits, axis=1), rtol=1e-12)


def test_float32_stays_float32_and_finite():
    x = th.vector("x", dtype="float32")
    fast, naive = _both(x, th.log(th.sigmoid(x)) + th.log(1.0 - th.sigmoid(x)))
    values = BIG.astype("float32")
    out = fast(values)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.isfinite(naive(values)).all()
    np.testing.assert_allclose(out, -np.logaddexp(0, -BIG) - np.logaddexp(0, BIG), rtol=1e-6)


def test_stable_gradient_of_log_softmax_loss():
    x = th.matrix("x", dtype="float64")
    loss = -th.sum(th.log(th.softmax(x, axis=1))[:, 0])
    g = th.grad(loss, x)
    fast = th.function([x], [loss, g])
    logits = np.stack([BIG, BIG[::-1]])
    value, grad = fast(logits)
    assert np.isfinite(value) and np.isfinite(grad).all()
    soft = scipy.special.softmax(logits, axis=1)
    expected = soft.copy()
    expected[:, 0] -= 1
    np.testing.assert_allclose(grad, expected, atol=1e-12)

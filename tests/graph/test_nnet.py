"""Softmax family and crossentropies: the parts the op table does not cover.

Values and finite-difference gradients over dtypes and axes live in
cases_nnet.py; here: closed-form gradients at saturated logits, the shape
of the gradient graph, R_op against the Jacobian, Keras conventions and
error messages.
"""

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.nnet import ClassMask, LogSoftmax, Softmax

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [3.0, -1e4, 2.0]])
TARGET = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])


def _run(outputs, inputs, *values):
    return th.function(inputs, outputs)(*values)


def test_ops_have_class_names_and_axis_props():
    x = th.tensor("x", "float32", (None, 3, 4))
    sm, lsm = th.softmax(x, axis=-2), th.log_softmax(x)
    assert isinstance(sm.owner.op, Softmax) and sm.owner.op.axis == 1
    assert isinstance(lsm.owner.op, LogSoftmax) and lsm.owner.op.axis == 2
    assert Softmax(1) == Softmax(1) and hash(Softmax(1)) == hash(Softmax(1))
    assert Softmax(1) != Softmax(2) and Softmax(1) != LogSoftmax(1)
    assert sm.type == x.type


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropy_gradients_at_saturated_logits_are_exact(dtype):
    x, t = th.matrix("x", dtype), th.matrix("t", dtype)
    labels = th.vector("labels", "int64")
    dense = th.grad(th.categorical_crossentropy(t, x, from_logits=True).sum(), x)
    sparse = th.grad(th.sparse_categorical_crossentropy(labels, x, from_logits=True).sum(), x)
    binary = th.grad(th.binary_crossentropy(t, x, from_logits=True).sum(), x)
    logits, target = EXTREME.astype(dtype), TARGET.astype(dtype)
    got = _run([dense, sparse, binary], [x, t, labels], logits, target, np.array([1, 2, 0]))
    probabilities = scipy.special.softmax(EXTREME, axis=-1)
    expected = [
        probabilities * TARGET.sum(axis=-1, keepdims=True) - TARGET,
        probabilities - np.eye(3)[[1, 2, 0]],
        scipy.special.expit(EXTREME) - TARGET,
    ]
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == dtype and np.all(np.isfinite(g))
        np.testing.assert_allclose(g, e, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_and_log_softmax_gradients_at_saturated_logits(dtype):
    x = th.matrix("x", dtype)
    w = np.arange(9.0).reshape(3, 3)
    g_sm = th.grad((th.softmax(x) * w.astype(dtype)).sum(), x)
    g_lsm = th.grad((th.log_softmax(x) * w.astype(dtype)).sum(), x)
    got_sm, got_lsm = _run([g_sm, g_lsm], [x], EXTREME.astype(dtype))
    sm = scipy.special.softmax(EXTREME, axis=-1)
    np.testing.assert_allclose(got_sm, (w - (w * sm).sum(-1, keepdims=True)) * sm, atol=1e-6)
    np.testing.assert_allclose(got_lsm, w - sm * w.sum(-1, keepdims=True), atol=1e-4)


def test_gradient_graphs_never_divide():
    x = th.matrix("x", "float64")
    costs = [th.softmax(x).sum(), th.log_softmax(x).sum(), th.categorical_crossentropy(TARGET, x, True).sum()]
    for cost in costs:
        g = th.grad(cost, x)
        names = {str(getattr(n.op, "scalar_op", n.op)) for n in apply_nodes([g])}
        assert not names & {"true_divide", "reciprocal"}, names


@pytest.mark.parametrize("make", [th.softmax, th.log_softmax])
def test_r_op_matches_the_jacobian(make):
    x = th.vector("x", "float64")
    v = th.vector("v", "float64")
    point, direction = np.array([0.5, -1.0, 2.0, 0.1]), np.array([1.0, 2.0, -1.0, 0.5])
    jv = _run(th.Rop(make(x), x, v), [x, v], point, direction)
    eps = 1e-6
    f = th.function([x], make(x))
    numeric = (f(point + eps * direction) - f(point - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jv, numeric, rtol=1e-6, atol=1e-8)


def test_integer_input_is_promoted_like_numpy_exp():
    x = th.vector("x", "int64")
    out = th.softmax(x)
    assert out.dtype == "float64"
    np.testing.assert_allclose(_run(out, [x], np.array([1, 2, 3])), scipy.special.softmax([1.0, 2.0, 3.0]))


def test_probabilities_are_renormalised_and_clipped_like_keras():
    t, p = th.matrix("t", "float64"), th.matrix("p", "float64")
    loss = th.categorical_crossentropy(t, p)
    unnormalised = np.array([[2.0, 6.0, 0.0]])
    got = _run(loss, [t, p], np.array([[0.0, 0.0, 1.0]]), unnormalised)
    np.testing.assert_allclose(got, [-np.log(1e-7)])
    bce = th.binary_crossentropy(t, p)
    got = _run(bce, [t, p], np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0]]))
    np.testing.assert_allclose(got, [[-np.log(1e-7), -np.log(1e-7), -np.log(1 - 1e-7)]])


def test_sparse_labels_squeeze_trailing_axis_and_ignore_out_of_range():
    labels, x = th.tensor("labels", "int64", (None, 1)), th.matrix("x", "float64")
    loss = th.sparse_categorical_crossentropy(labels, x, from_logits=True)
    assert loss.ndim == 1
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    got = _run(loss, [labels, x], np.array([[2], [5]]), logits)
    np.testing.assert_allclose(got, [-scipy.special.log_softmax(logits[0])[2], 0.0])
    dynamic = th.matrix("dynamic", "int64")
    f = th.function([dynamic, x], th.sparse_categorical_crossentropy(dynamic, x, from_logits=True))
    np.testing.assert_allclose(f(np.array([[2], [5]]), logits), got)
    with pytest.raises(ValueError):
        f(np.array([[2, 1], [5, 0]]), logits)


def test_crossentropy_shape_errors_name_both_shapes():
    t, x = th.tensor("t", "float32", (None, 3)), th.tensor("x", "float32", (None, 4))
    with pytest.raises(ValueError, match=r"target.shape=\(\?, 3\), output.shape=\(\?, 4\)"):
        th.categorical_crossentropy(t, x)
    with pytest.raises(ValueError, match=r"without its class axis 1.*target.shape=\(\?, 3\)"):
        th.sparse_categorical_crossentropy(th.tensor("l", "int64", (None, 3)), x)
    with pytest.raises(ValueError, match="needs a class axis"):
        th.categorical_crossentropy(th.scalar("s"), th.scalar("o"))


def test_sparse_labels_must_be_integers_and_match_at_run_time():
    x = th.matrix("x", "float64")
    with pytest.raises(TypeError, match="labels must be integers. Received: dtype float64"):
        th.sparse_categorical_crossentropy(th.vector("l", "float64"), x)
    labels = th.vector("labels", "int64")
    f = th.function([labels, x], th.sparse_categorical_crossentropy(labels, x))
    with pytest.raises(ValueError, match=r"labels have shape \(3,\).*needs \(2,\)"):
        f(np.zeros(3, dtype="int64"), np.ones((2, 4)))


def test_axis_errors():
    x = th.matrix("x", "float32")
    with pytest.raises(ValueError, match="axis 2 is out of bounds for a tensor of rank 2"):
        th.softmax(x, axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        th.log_softmax(x, axis=(0, 1))
    with pytest.raises(ValueError, match="non-negative axis"):
        Softmax(-1)


def test_infer_shape_and_class_mask_have_no_gradient():
    x = th.tensor("x", "float64", (2, 5))
    node = th.softmax(x).owner
    assert node.op.infer_shape(node, [(2, 5)]) == [(2, 5)]
    mask = ClassMask(1)(th.vector("l", "int64"), x)
    assert mask.type.shape == (2, 5)
    assert mask.owner.op.connection_pattern(mask.owner) == [[False], [False]]
    with pytest.raises(th.DisconnectedInputError):
        th.grad(mask.sum(), x)


# ---------------------------------------------------------------------------- argument order

LABEL_FORMS = {
    "int labels": lambda: th.vector("y", "int32"),
    "int one-hot": lambda: th.matrix("y", "int64"),
    "bool one-hot": lambda: th.matrix("y", "bool"),
    "th.one_hot": lambda: th.one_hot(th.vector("y", "int64"), 3),
    "cast labels": lambda: th.cast(th.matrix("y", "uint8"), "float32"),
    "constant one-hot": lambda: np.eye(3)[[0, 2]],
}
THEANO_ORDER = {
    "categorical_crossentropy": "categorical_crossentropy(coding_dist, true_dist)",
    "sparse_categorical_crossentropy": "categorical_crossentropy(coding_dist, true_dist)",
    "binary_crossentropy": "binary_crossentropy(output, target)",
}


@pytest.mark.parametrize("form", sorted(LABEL_FORMS))
@pytest.mark.parametrize("name", sorted(THEANO_ORDER))
def test_theano_argument_order_is_caught_and_the_keras_order_named(name, form):
    """Probabilities first and labels second is Theano's order: a ValueError says which is expected."""
    probabilities = th.softmax(th.matrix("logits", "float32"))
    with pytest.raises(ValueError) as caught:
        getattr(th, name)(probabilities, LABEL_FORMS[form]())
    message = str(caught.value)
    assert message.startswith(f"{name}: the arguments look reversed: `output` (the second argument) holds ")
    assert f"theanine takes Keras' order, {name}(target=" in message
    assert f"Theano's {THEANO_ORDER[name]} is the reverse" in message


def test_keras_order_with_labels_of_every_form_still_works():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    probabilities = scipy.special.softmax(logits, axis=1)
    p = th.matrix("p", "float64")
    one_hot, labels = th.matrix("one_hot", "int64"), th.vector("labels", "int32")
    losses = [
        th.categorical_crossentropy(one_hot, p),
        th.categorical_crossentropy(th.one_hot(labels, 3, dtype="float64"), p),
        th.sparse_categorical_crossentropy(labels, p),
        th.binary_crossentropy(one_hot, p),
        th.categorical_crossentropy(th.softmax(p), th.softmax(p)),  # distillation: soft targets
    ]
    f = th.function([one_hot, labels, p], losses)
    hot, idx = np.eye(3, dtype="int64")[[0, 1]], np.array([0, 1], "int32")
    dense, from_labels, sparse, binary, soft = f(hot, idx, probabilities)
    expected = -np.log(probabilities[[0, 1], [0, 1]])
    np.testing.assert_allclose(dense, expected, rtol=1e-12)
    np.testing.assert_allclose(from_labels, expected, rtol=1e-12)
    np.testing.assert_allclose(sparse, expected, rtol=1e-12)
    np.testing.assert_allclose(binary, -(hot * np.log(probabilities) + (1 - hot) * np.log(1 - probabilities)))
    np.testing.assert_allclose(soft, -(scipy.special.softmax(probabilities, 1) *
                                       scipy.special.log_softmax(probabilities, 1)).sum(1), rtol=1e-12)

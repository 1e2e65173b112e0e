"""th.grad, jacobian, hessian, Lop, Rop and their options."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes

RNG = np.random.default_rng(7)
W_VALUE = RNG.standard_normal((3, 3))
X_VALUE = RNG.standard_normal(3)


def _setup():
    x = th.vector("x", dtype="float64")
    W = th.shared(W_VALUE, name="W")
    return x, W


def test_issue_example_values():
    x, W = _setup()
    cost = th.sum(th.tanh(W @ x) ** 2)
    gW, gx = th.grad(cost, [W, x])
    t = np.tanh(W_VALUE @ X_VALUE)
    d = 2 * t * (1 - t**2)
    got_W, got_x = th.function([x], [gW, gx])(X_VALUE)
    np.testing.assert_allclose(got_W, np.outer(d, X_VALUE), rtol=1e-12)
    np.testing.assert_allclose(got_x, W_VALUE.T @ d, rtol=1e-12)


def test_jacobian_closed_form():
    x, W = _setup()
    J = th.jacobian(th.tanh(W @ x), x)
    t = np.tanh(W_VALUE @ X_VALUE)
    expected = (1 - t**2)[:, None] * W_VALUE
    np.testing.assert_allclose(th.function([x], J)(X_VALUE), expected, rtol=1e-12)


def test_hessian_closed_form_and_symmetric():
    x = th.tensor("x", dtype="float64", shape=(3,))
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]])
    cost = 0.5 * (x * (th.constant(A) @ x)).sum() + th.sum(th.sin(x))
    H = th.function([x], th.hessian(cost, x))(X_VALUE)
    np.testing.assert_allclose(H, A - np.diag(np.sin(X_VALUE)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H, H.T)


def test_rop_and_lop_equal_jacobian_products():
    x, W = _setup()
    v = th.vector("v", dtype="float64")
    y = th.tanh(W @ x)
    J = th.jacobian(y, x)
    jvp = th.Rop(y, x, v)
    vjp = th.Lop(y, x, v)
    v_value = RNG.standard_normal(3)
    J_val, jvp_val, vjp_val = th.function([x, v], [J, jvp, vjp])(X_VALUE, v_value)
    np.testing.assert_allclose(jvp_val, J_val @ v_value, rtol=1e-12)
    np.testing.assert_allclose(vjp_val, v_value @ J_val, rtol=1e-12)


def test_rop_fallback_through_lop_for_an_op_without_r_op():
    class NoROp(th.Op):
        """x -> 3x, with a gradient but no R_op."""

        def make_node(self, x):
            x = th.as_tensor(x)
            return th.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0] * 3]

        def L_op(self, inputs, outputs, grads):
            return [grads[0] * 3]

    x = th.vector("x", dtype="float64")
    v = th.vector("v", dtype="float64")
    y = th.exp(NoROp()(x))
    out = th.function([x, v], th.Rop(y, x, v))(X_VALUE, np.ones(3))
    np.testing.assert_allclose(out, 3 * np.exp(3 * X_VALUE), rtol=1e-12)


def test_second_derivative():
    x = th.scalar("x", dtype="float64")
    y = x**3 + th.sin(x)
    d2 = th.grad(th.grad(y, x), x)
    assert th.function([x], d2)(0.7) == pytest.approx(6 * 0.7 - np.sin(0.7), rel=1e-12)


def test_disconnected_inputs_options():
    x = th.vector("x", dtype="float64")
    unused = th.vector("unused", dtype="float64")
    cost = (x**2).sum()
    with pytest.raises(th.DisconnectedInputError, match="does not depend on unused"):
        th.grad(cost, [x, unused])
    with pytest.warns(UserWarning, match="does not depend on unused"):
        _, g = th.grad(cost, [x, unused], disconnected_inputs="warn")
    _, g = th.grad(cost, [x, unused], disconnected_inputs="ignore")
    np.testing.assert_array_equal(th.function([unused], g)(np.ones(2)), [0.0, 0.0])
    with pytest.raises(ValueError, match="disconnected_inputs must be"):
        th.grad(cost, x, disconnected_inputs="maybe")


def test_stop_gradient_and_consider_constant():
    x = th.scalar("x", dtype="float64")
    y = x * x
    assert th.function([x], th.grad(th.stop_gradient(y) * x, x))(3.0) == 9.0
    assert th.function([x], th.grad(y * x, x, consider_constant=[y]))(3.0) == 9.0
    assert th.function([x], th.grad(y * x, x))(3.0) == 27.0
    np.testing.assert_array_equal(th.function([x], th.disconnected_grad(y))(3.0), 9.0)


def test_integer_inputs_and_costs_have_no_gradient():
    x = th.vector("x", dtype="float64")
    i = th.vector("i", dtype="int64")
    with pytest.raises(TypeError, match="cannot differentiate with respect to i of integer/bool type"):
        th.grad((x * i).sum(), i)
    with pytest.raises(TypeError, match="cost has integer/bool type"):
        th.grad(i.sum(), x)
    with pytest.raises(TypeError, match="cost must be a scalar"):
        th.grad(x * 2, x)
    # integer paths carry no gradient: d/dx sum(x * cast(x > 0)) = cast(x > 0)
    g = th.grad((x * (x > 0).astype("float64")).sum(), x)
    np.testing.assert_array_equal(th.function([x], g)(np.array([-1.0, 2.0])), [0.0, 1.0])


def test_known_grads():
    x = th.vector("x", dtype="float64")
    h = th.exp(x)
    g = th.grad(None, x, known_grads={h: th.constant(np.array([1.0, 2.0]))})
    np.testing.assert_allclose(th.function([x], g)(np.zeros(2)), [1.0, 2.0])


def test_fan_in_sums_contributions():
    x = th.scalar("x", dtype="float64")
    y = th.sin(x)
    cost = y * y + y
    assert th.function([x], th.grad(cost, x))(0.3) == pytest.approx(np.cos(0.3) * (2 * np.sin(0.3) + 1))


def test_broadcast_gradient_reduces_to_input_shape():
    x = th.tensor("x", dtype="float64", shape=(2, 3))
    b = th.tensor("b", dtype="float64", shape=(3,))
    col = th.tensor("c", dtype="float64", shape=(2, 1))
    gb, gc = th.grad(((x + b) * col).sum(), [b, col])
    assert gb.type.shape == (3,) and gc.type.shape == (2, 1)
    xv = np.arange(6.0).reshape(2, 3)
    cv = np.array([[1.0], [2.0]])
    got_b, got_c = th.function([x, b, col], [gb, gc])(xv, np.ones(3), cv)
    np.testing.assert_allclose(got_b, [3.0, 3.0, 3.0])
    np.testing.assert_allclose(got_c, (xv + 1).sum(axis=1, keepdims=True))


def test_deep_graph_gradient_is_iterative():
    x = th.scalar("x", dtype="float64")
    y = x
    for _ in range(2000):
        y = y * 1.001
    g = th.function([x], th.grad(y, x), mode="none")(1.0)
    assert g == pytest.approx(1.001**2000)


def test_verify_grad_catches_a_wrong_gradient():
    class WrongGrad(th.Op):
        def make_node(self, x):
            x = th.as_tensor(x)
            return th.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0] ** 2]

        def L_op(self, inputs, outputs, grads):
            return [grads[0] * inputs[0]]  # should be 2 * x

    with pytest.raises(AssertionError, match="symbolic gradient"):
        th.verify_grad(lambda a: WrongGrad()(a), [np.array([1.0, 2.0])])


def test_mlp_gradient_graph_is_printable_and_has_no_hidden_callbacks():
    x = th.matrix("x")
    y = th.vector("y", dtype="int64")
    W1 = th.shared(np.zeros((4, 5), "float32"), name="W1")
    b1 = th.shared(np.zeros(5, "float32"), name="b1")
    W2 = th.shared(np.zeros((5, 3), "float32"), name="W2")
    b2 = th.shared(np.zeros(3, "float32"), name="b2")
    h = th.relu(x @ W1 + b1)
    cost = th.mean(th.sparse_categorical_crossentropy(y, h @ W2 + b2, from_logits=True))
    grads = th.grad(cost, [W1, b1, W2, b2])
    text = th.debugprint(grads, file="str")
    assert "W1" in text and "Elemwise" in text
    forward_ops = {type(n.op).__module__ for n in apply_nodes([cost])}
    for node in apply_nodes(grads):
        assert type(node.op).__module__.startswith("theanine.graph.ops"), node.op
    assert all(m.startswith("theanine.graph.ops") for m in forward_ops)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_stay_finite_and_right_at_logits_of_1e4(dtype):
    x = th.vector("x", dtype=dtype)
    labels = th.vector("labels", dtype="int64")
    logits = np.array([1e4, -1e4, 0.0, 5e3], dtype=dtype)
    sm = np.exp(logits.astype("float64") - logits.max())
    sm /= sm.sum()
    costs = {
        "softplus": th.softplus(x).sum(),
        "log_softmax": th.log_softmax(x).sum(),
        "sparse_crossentropy": th.sparse_categorical_crossentropy(labels, x[None, :], from_logits=True).sum(),
        "binary_crossentropy": th.binary_crossentropy(th.ones_like(x), x, from_logits=True).sum(),
    }
    expected = {
        "softplus": 1 / (1 + np.exp(-logits.astype("float64"))),
        "log_softmax": 1 - 4 * sm,
        "sparse_crossentropy": sm - np.eye(4)[1],
        "binary_crossentropy": 1 / (1 + np.exp(-logits.astype("float64"))) - 1,
    }
    f = th.function([x, labels], [th.grad(c, x) for c in costs.values()])
    for name, got in zip(costs, f(logits, np.array([1])), strict=True):
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, expected[name], atol=1e-6, err_msg=name)

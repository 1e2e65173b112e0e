"""OpFromGraph: values, gradients, nesting, structural equality, implicit
shared inputs, type checks, shapes and forward derivatives."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import ancestors
from theanine.graph.ops.opfromgraph import OpFromGraph

R = np.random.default_rng(5)
A = R.standard_normal((3, 4))
B = R.standard_normal((3, 4))


def _f64(name, shape=(None, None)):
    return th.tensor(name, "float64", shape)


def _two_output_op():
    x, y = _f64("x"), _f64("y")
    return th.OpFromGraph([x, y], [th.tanh(x) * y + 1.0, (x * x).sum()], name="pair")


def test_values_of_single_and_multiple_outputs():
    x = _f64("x")
    square_plus = th.OpFromGraph([x], x * x + 2.0)
    a, b = _f64("a"), _f64("b")
    first, total = _two_output_op()(a, b)
    got = th.function([a, b], [square_plus(a), first, total])(A, B)
    np.testing.assert_allclose(got[0], A * A + 2)
    np.testing.assert_allclose(got[1], np.tanh(A) * B + 1)
    np.testing.assert_allclose(got[2], (A * A).sum())


def test_gradients_match_finite_differences():
    op = _two_output_op()
    th.verify_grad(lambda a, b: op(a, b)[0], [A, B])
    th.verify_grad(lambda a, b: op(a, b)[0] * op(a, b)[1], [A, B])


def test_gradient_is_itself_an_op_from_graph():
    a, b = _f64("a"), _f64("b")
    g = th.grad(_two_output_op()(a, b)[0].sum(), a)
    assert any(isinstance(v.owner.op, OpFromGraph) and v.owner.op.name == "grad_pair"
               for v in ancestors([g]) if v.owner is not None)
    np.testing.assert_allclose(th.function([a, b], g)(A, B), (1 - np.tanh(A) ** 2) * B)


def test_nested_op_from_graph():
    x = _f64("x")
    inner = th.OpFromGraph([x], th.exp(x) - x, name="inner")
    y = _f64("y")
    outer = th.OpFromGraph([y], inner(y) * inner(2.0 * y), name="outer")
    a = _f64("a")
    expected = (np.exp(A) - A) * (np.exp(2 * A) - 2 * A)
    np.testing.assert_allclose(th.function([a], outer(a))(A), expected)
    th.verify_grad(outer, [A])


def test_equal_graphs_give_equal_ops():
    def build(constant=1.0, dtype="float64"):
        x, y = th.tensor("x", dtype, (None, None)), th.tensor("y", dtype, (None, None))
        return th.OpFromGraph([x, y], [th.tanh(x) * y + constant], name=f"op{constant}")

    first, second = build(), build()
    assert first == second and hash(first) == hash(second)
    assert first != build(constant=2.0)
    assert first != build(dtype="float32")
    x = _f64("x")
    assert th.OpFromGraph([x], x + 1.0) != th.OpFromGraph([x], 1.0 + x)


def test_inner_graph_is_a_private_copy():
    x = _f64("x")
    y = th.exp(x)
    op = th.OpFromGraph([x], [y])
    [(inputs, outputs)] = op.inner_graphs()
    assert inputs[0] is not x and outputs[0] is not y
    assert inputs[0].type == x.type and str(outputs[0].owner.op) == str(y.owner.op)


def test_shared_variables_become_implicit_inputs():
    w = th.shared(np.full((4,), 2.0), name="w")
    x = _f64("x")
    op = th.OpFromGraph([x], (x * w).sum(axis=1))
    assert op.implicit_inputs == [w]
    a = _f64("a")
    out = op(a)
    assert out.owner.inputs[1] is w
    f = th.function([a], [out, th.grad(out.sum(), w)])
    value, grad_w = f(A)
    np.testing.assert_allclose(value, (A * 2.0).sum(axis=1))
    np.testing.assert_allclose(grad_w, A.sum(axis=0))
    w.set_value(np.ones(4))
    np.testing.assert_allclose(f(A)[0], A.sum(axis=1))


def test_random_streams_inside_advance_on_each_call():
    rng = th.random.RandomStream(0)
    x = _f64("x", (3,))
    noisy = th.OpFromGraph([x], x + rng.uniform((3,), dtype="float64"))
    a = _f64("a", (3,))
    f = th.function([a], noisy(a))
    first, second = f(np.zeros(3)), f(np.zeros(3))
    assert not np.array_equal(first, second)
    assert np.all((first >= 0) & (first < 1))


def test_free_variables_are_rejected_with_their_name():
    x, z = _f64("x"), _f64("z")
    with pytest.raises(ValueError, match="depend on z of type float64\\(\\?, \\?\\).*add it to the inputs"):
        th.OpFromGraph([x], x + z)
    with pytest.raises(TypeError, match="inputs\\[0\\] is a constant"):
        th.OpFromGraph([th.constant(1.0)], x)


def test_calls_are_type_checked_against_the_inner_inputs():
    x = th.tensor("x", "float64", (None, 4))
    op = th.OpFromGraph([x], x * 2.0)
    with pytest.raises(TypeError, match=r"input 0 must have type float64\(\?, 4\). Received: a of type float32"):
        op(th.tensor("a", "float32", (None, 4)))
    with pytest.raises(TypeError, match=r"must have type float64\(\?, 4\). Received: b of type float64\(\?, 5\)"):
        op(th.tensor("b", "float64", (None, 5)))
    with pytest.raises(TypeError, match="takes 1 input"):
        op(_f64("c"), _f64("d"))
    loose = _f64("e")
    f = th.function([loose], op(loose))
    with pytest.raises(ValueError, match=r"expected shape \(\?, 4\), got \(2, 3\)"):
        f(np.ones((2, 3)))


def test_infer_shape_follows_the_inner_graph():
    x = th.tensor("x", "float64", (None, 4))
    op = th.OpFromGraph([x], [x.sum(axis=0), x.T])
    a = th.tensor("a", "float64", (None, 4))
    node = op.make_node(a)
    n = th.scalar("n", "int64")
    shapes = op.infer_shape(node, [(n, 4)])
    assert shapes[0] == (4,)
    assert shapes[1][0] == 4
    assert th.function([n], shapes[1][1])(7) == 7


def test_r_op_matches_directional_finite_differences():
    op = _two_output_op()
    a, b, va = _f64("a"), _f64("b"), _f64("va")
    first, total = op(a, b)
    f = th.function([a, b, va], th.Rop([first, total], [a], [va]))
    direction = R.standard_normal((3, 4))
    eps = 1e-6
    forward = th.function([a, b], [first, total])
    plus, minus = forward(A + eps * direction, B), forward(A - eps * direction, B)
    for got, p, m in zip(f(A, B, direction), plus, minus, strict=True):
        np.testing.assert_allclose(got, (p - m) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_integer_inputs_get_no_gradient():
    x, k = _f64("x", (4,)), th.scalar("k", "int64")
    op = th.OpFromGraph([x, k], x * k.astype("float64"))
    a, i = _f64("a", (4,)), th.scalar("i", "int64")
    node = op.make_node(a, i)
    assert op.connection_pattern(node) == [[True], [False]]
    g = th.grad(op(a, i).sum(), a)
    np.testing.assert_allclose(th.function([a, i], g)(np.ones(4), 3), np.full(4, 3.0))

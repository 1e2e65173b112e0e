"""th.ifelse: values, laziness (only the branch taken runs, in every backend), gradients, errors."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.ifelse import IfElse


def _scalars(*names):
    return [th.scalar(n, "float64") for n in names]


def test_values_of_both_branches(backend):
    a, b = _scalars("a", "b")
    x = th.vector("x", "float64")
    out = th.ifelse(a < b, th.exp(x).sum() * a, (x ** 2).sum() * b)
    f = th.function([a, b, x], out, backend=backend)
    values = np.array([1.0, 2.0])
    np.testing.assert_allclose(f(1.0, 2.0, values), np.exp(values).sum())
    np.testing.assert_allclose(f(3.0, 2.0, values), (values ** 2).sum() * 2)


def test_several_outputs(backend):
    a = th.scalar("a", "float64")
    x = th.vector("x", "float64")
    first, second = th.ifelse(a > 0, [x + 1, x.sum()], [x - 1, x.max()])
    f = th.function([a, x], [first, second], backend=backend)
    got = f(-1.0, np.array([1.0, 5.0]))
    np.testing.assert_allclose(got[0], [0.0, 4.0])
    assert got[1] == 5.0


class _Exploding(th.Op):
    """An op whose perform always raises: evaluating it proves a branch ran."""

    def make_node(self, x):
        x = th.as_tensor_variable(x)
        return th.Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        raise RuntimeError("the branch not taken was evaluated")


def test_only_the_branch_taken_is_computed(backend):
    a = th.scalar("a", "float64")
    x = th.vector("x", "float64")
    out = th.ifelse(a > 0, x * 2, _Exploding()(x))
    f = th.function([a, x], out, backend=backend)
    np.testing.assert_allclose(f(1.0, np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="not taken was evaluated"):
        f(-1.0, np.array([1.0, 2.0]))


def test_random_draw_advances_only_when_its_branch_runs(backend):
    rng = th.random.RandomStream(5)
    a = th.scalar("a", "float64")
    out = th.ifelse(a > 0, rng.normal((), dtype="float64"), a)
    f = th.function([a], out, backend=backend)
    first = f(1.0)
    assert f(-1.0) == -1.0
    second = f(1.0)
    rng.reseed(5)
    assert f(1.0) == first and f(1.0) == second


def test_gradients_through_both_branches():
    point = [np.array(1.0), np.array(2.0), np.array([0.5, -1.0])]

    def fun(a, b, x):
        return th.ifelse(a < b, th.exp(x) * a, x ** 2 * b)

    th.verify_grad(fun, point)
    th.verify_grad(fun, [np.array(3.0), point[1], point[2]])


def test_gradient_is_an_ifelse_and_rop_matches():
    a, x = th.scalar("a", "float64"), th.vector("x", "float64")
    out = th.ifelse(a > 0, th.sin(x), x ** 3)
    g = th.grad(out.sum(), x)
    assert isinstance(g.owner.op, IfElse)
    v = th.vector("v", "float64")
    f = th.function([a, x, v], [g, th.Rop(out, x, v)])
    values = np.array([0.3, -0.7])
    got = f(1.0, values, np.ones(2))
    np.testing.assert_allclose(got[0], np.cos(values))
    np.testing.assert_allclose(got[1], np.cos(values))
    got = f(-1.0, values, np.ones(2))
    np.testing.assert_allclose(got[0], 3 * values ** 2)


def test_branch_types_must_agree():
    a, x = th.scalar("a", "float64"), th.vector("x", "float64")
    with pytest.raises(TypeError, match=r"output 0 has type float64\(\?,\) in the then branch and float32\(\?,\)"):
        th.ifelse(a > 0, x, th.cast(x, "float32"))
    with pytest.raises(ValueError, match="as many"):
        th.ifelse(a > 0, [x, x], [x])
    with pytest.raises(TypeError, match="condition must be a scalar"):
        th.ifelse(x, x, x)


def test_static_shape_kept_where_both_agree():
    a = th.scalar("a", "float64")
    out = th.ifelse(a > 0, th.zeros((2, 3), "float64"), th.tensor("y", "float64", (2, None)))
    assert out.type.shape == (2, None)


def test_ifelse_inside_a_scan(backend):
    x = th.vector("x", "float64")
    out, _ = th.scan(lambda v: th.ifelse(v > 0, v * 2, -v), sequences=x)
    got = th.function([x], out, backend=backend)(np.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(got, [2.0, 2.0, 6.0])
    th.verify_grad(lambda x: th.scan(lambda v: th.ifelse(v > 0, v * v, -v), sequences=x)[0],
                   [np.array([1.0, -2.0, 3.0])])

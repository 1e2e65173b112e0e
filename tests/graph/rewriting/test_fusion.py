"""Fusion into one Elemwise(Composite): values, gradients, multiple outputs, structural equality."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import Elemwise

RNG = np.random.default_rng(7)


def _elemwise_nodes(outputs):
    return [n for n in apply_nodes(outputs) if isinstance(n.op, Elemwise)]


def test_a_chain_becomes_one_elemwise(optimized):
    x = th.matrix("x", dtype="float64")
    b = th.vector("b", dtype="float64")
    y = th.tanh(th.exp(x + b) * 0.5 - x)
    opt = optimized([x, b], [y])
    nodes = [n for n in opt.fgraph.toposort() if isinstance(n.op, Elemwise)]
    assert len(nodes) == 1 and isinstance(nodes[0].op.scalar_op, Composite)
    assert opt.fired("elemwise_fusion") == 1
    opt.check_values(RNG.normal(size=(3, 4)), RNG.normal(size=4), rtol=1e-15)


def test_a_shared_intermediate_becomes_a_second_output(optimized):
    x = th.matrix("x", dtype="float64")
    z = th.exp(x) + 1.0
    first, second = th.relu(z) * 3.0, th.sum(z)
    opt = optimized([x], [first, second])
    fused = [n for n in opt.fgraph.toposort() if isinstance(n.op, Elemwise)]
    assert len(fused) == 1 and len(fused[0].outputs) == 2
    opt.check_values(RNG.normal(size=(2, 5)), rtol=1e-14)


def test_nodes_of_different_shapes_are_not_fused(optimized):
    x = th.matrix("x", dtype="float64")
    row = th.exp(th.tensor("r", dtype="float64", shape=(1, None)))
    opt = optimized([x, row.owner.inputs[0]], [th.tanh(x) * row])
    fused = [n for n in opt.fgraph.toposort() if isinstance(n.op, Elemwise)]
    assert len(fused) == 2
    opt.check_values(RNG.normal(size=(3, 4)), RNG.normal(size=(1, 4)))


def test_mixed_dtypes_keep_each_nodes_own_dtype(optimized):
    i = th.vector("i", dtype="int32")
    x = th.vector("x", dtype="float32")
    y = th.cast(i * 3 + 1, "float32") * x + th.cast(i > 2, "float32")
    opt = optimized([i, x], [y])
    assert opt.fired("elemwise_fusion") == 1
    opt.check_values(np.arange(5, dtype="int32"), RNG.normal(size=5).astype("float32"))


def test_the_gradient_flows_through_a_composite():
    x = th.vector("x", dtype="float64")
    fused = th.rewrite(th.sin(x) * th.exp(x) + x * x)
    assert isinstance(fused.owner.op.scalar_op, Composite)
    th.verify_grad(lambda v: th.rewrite(th.sin(v) * th.exp(v) + v * v).sum(), [RNG.normal(size=4)])
    g = th.grad(fused.sum(), x)
    xv = RNG.normal(size=4)
    expected = np.cos(xv) * np.exp(xv) + np.sin(xv) * np.exp(xv) + 2 * xv
    np.testing.assert_allclose(th.function([x], g, mode="none")(xv), expected, rtol=1e-12)


def test_composites_are_equal_by_structure():
    def build():
        a, b = th.scalar("a", dtype="float64"), th.scalar("b", dtype="float64")
        return Composite([a, b], [th.exp(a) * b + 2.0])

    assert build() == build() and hash(build()) == hash(build())
    a = th.scalar("a", dtype="float64")
    assert build() != Composite([a, th.scalar("b", dtype="float64")], [th.exp(a) + 2.0])
    assert str(build()) == "Composite{add(multiply(exp(i0), i1), 2.0)}"


def test_composite_rejects_non_scalar_or_foreign_inner_graphs():
    a = th.scalar("a", dtype="float64")
    with pytest.raises(TypeError, match="rank 0"):
        Composite([th.vector("v", dtype="float64")], [a])
    stranger = th.scalar("s", dtype="float64")
    with pytest.raises(TypeError, match="not one of its inputs"):
        Composite([a], [a + stranger])


def test_composite_exposes_its_inner_graph_and_checks_dtypes():
    a = th.scalar("a", dtype="float32")
    op = Composite([a], [th.exp(a), -a])
    ((inputs, outputs),) = op.inner_graphs()
    assert inputs == [a] and len(outputs) == 2
    x = th.vector("x", dtype="float32")
    first, second = Elemwise(op)(x)
    values = th.function([x], [first, second], mode="none")(np.array([0.0, 1.0], dtype="float32"))
    np.testing.assert_allclose(values[0], np.exp([0.0, 1.0]), rtol=1e-6)
    np.testing.assert_allclose(values[1], [0.0, -1.0])
    with pytest.raises(TypeError, match="takes inputs of dtypes"):
        Elemwise(op)(th.vector("y", dtype="float64"))


def test_fusing_an_already_fused_graph_inlines_the_inner_composite():
    x = th.vector("x", dtype="float64")
    once = th.rewrite(th.exp(x) * 2.0 + 1.0)
    twice = th.rewrite(th.log(once) * once - 3.0)
    nodes = _elemwise_nodes([twice])
    assert len(nodes) == 1
    inner_ops = {type(n.op.scalar_op) for n in nodes[0].op.scalar_op.nodes}
    assert Composite not in inner_ops
    xv = RNG.normal(size=3)
    base = np.exp(xv) * 2 + 1
    np.testing.assert_allclose(
        th.function([x], twice, mode="none")(xv), np.log(base) * base - 3, rtol=1e-14
    )

"""Canonicalize rewrites: each fires (read from the report) and leaves the values unchanged."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.rewriting.canonicalize import MAX_FOLDED_ELEMENTS
from theanine.graph.shared import SharedVariable

RNG = np.random.default_rng(0)
XV = RNG.uniform(0.5, 2.0, size=(3, 4))


def _matrix(dtype="float64"):
    return th.matrix("x", dtype=dtype)


def test_constant_folding_computes_constant_subgraphs(optimized):
    x = _matrix()
    c = th.exp(th.constant(np.array([1.0, 2.0, 3.0, 4.0]))) * 2.0
    opt = optimized([x], [x + c])
    assert opt.fired("constant_folding") >= 2
    assert [str(op) for op in opt.ops()] == ["Elemwise{add}"]
    opt.check_values(XV)


def test_constant_folding_respects_the_size_cap(optimized):
    x = _matrix()
    big = th.constant(np.ones(MAX_FOLDED_ELEMENTS + 1))
    opt = optimized([x], [th.sum(th.exp(big)) + x])
    assert any(str(op) == "Elemwise{exp}" for op in opt.ops()), "the large exp must stay symbolic"
    opt.check_values(XV)


def test_constant_folding_skips_random_ops():
    x = th.vector("x", dtype="float32")
    f = th.function([x], x + th.random.uniform((3,)))
    nodes = th.graph.basic.apply_nodes(f.optimized_outputs)
    assert any(not getattr(n.op, "deterministic", True) for n in nodes)
    zeros = np.zeros(3, dtype="float32")
    assert not np.array_equal(f(zeros), f(zeros))


def test_constant_folding_leaves_run_time_errors_at_run_time(optimized):
    x = th.vector("x", dtype="float64")
    bad = th.constant(np.ones(3)) + th.constant(np.ones(3))
    opt = optimized([x], [x + bad])
    assert opt.fired("constant_folding") == 1


@pytest.mark.parametrize(
    "build, rewrite",
    [
        (lambda x: x * 1.0, "mul_by_one"),
        (lambda x: 1.0 * x, "mul_by_one"),
        (lambda x: x + 0.0, "add_zero"),
        (lambda x: 0.0 + x, "add_zero"),
        (lambda x: x - 0.0, "add_zero"),
        (lambda x: -(-x), "double_negation"),  # noqa: B002
    ],
)
def test_neutral_elements_disappear(optimized, build, rewrite):
    x = _matrix()
    opt = optimized([x], [build(x)])
    assert opt.fired(rewrite) == 1
    assert opt.fgraph.outputs[0] is opt.fgraph.inputs[0]
    opt.check_values(XV)


def test_mul_by_one_keeps_a_promoting_constant():
    x = _matrix("float32")
    f = th.function([x], x * th.constant(np.float64(1.0)))
    assert "mul_by_one" not in f.rewrite_report.fired
    assert f(XV.astype("float32")).dtype == np.float64


def test_mul_by_one_keeps_a_broadcasting_constant(optimized):
    x = th.tensor("x", dtype="float64", shape=(1, 4))
    opt = optimized([x], [x * th.constant(np.ones((3, 1)))])
    assert opt.fired("mul_by_one") == 0
    assert opt.check_values(XV[:1])[0].shape == (3, 4)


def test_zero_rewrites_are_only_for_integers(optimized):
    i = th.matrix("i", dtype="int32")
    opt = optimized([i], [i * 0, i - i])
    assert opt.fired("mul_by_zero") == 1 and opt.fired("sub_self") == 1
    opt.check_values(np.arange(12, dtype="int32").reshape(3, 4))
    x = _matrix()
    opt = optimized([x], [x * 0.0, x - x])
    assert opt.fired("mul_by_zero") == 0 and opt.fired("sub_self") == 0
    values = opt.check_values(np.array([[np.inf, np.nan, 1.0, -2.0]]))
    assert np.isnan(values[0][0, 0]) and np.isnan(values[1][0, 0])


def test_exp_of_log_keeps_nan_for_negative_inputs(optimized):
    x = th.vector("x", dtype="float64")
    opt = optimized([x], [th.exp(th.log(x))])
    assert opt.fired("exp_of_log") == 1
    assert not any(str(op) in ("Elemwise{exp}", "Elemwise{log}") for op in opt.ops())
    opt.check_values(np.array([-1.0, 0.0, 0.5, 3.0, np.inf, np.nan]), rtol=1e-15)


def test_log_of_exp_is_x_and_right_where_exp_overflows(optimized):
    x = th.vector("x", dtype="float64")
    opt = optimized([x], [th.log(th.exp(x))])
    assert opt.fired("log_of_exp") == 1 and opt.ops() == []
    opt.check_values(np.array([-3.0, 0.0, 2.5]))
    assert opt.run([np.array([1000.0])])[0][0] == 1000.0


@pytest.mark.parametrize(
    "k, ops",
    [
        (0, {"Elemwise{second}"}),
        (1, set()),
        (2, {"Elemwise{square}"}),
        (3, {"Elemwise{square}", "Elemwise{multiply}"}),
        (4, {"Elemwise{square}"}),
        (-1, {"Elemwise{reciprocal}"}),
        (-2, {"Elemwise{square}", "Elemwise{reciprocal}"}),
    ],
)
def test_small_integer_powers_become_products(optimized, k, ops):
    x = _matrix()
    opt = optimized([x], [x**k], mode="fast_compile")
    assert opt.fired("pow_small_integer") == 1
    assert {str(op) for op in opt.ops()} == ops
    opt.check_values(XV - 1.0, rtol=1e-14)


def test_integer_powers_compute_in_the_result_dtype(optimized):
    i = th.vector("i", dtype="int8")
    opt = optimized([i], [i ** th.constant(np.int64(3))])
    assert opt.fired("pow_small_integer") == 1
    opt.check_values(np.array([-5, 7, 100], dtype="int8"))
    opt = optimized([i], [i ** th.constant(np.int64(-1))])
    assert opt.fired("pow_small_integer") == 0


def test_constants_are_collected_and_folded(optimized):
    x = _matrix()
    opt = optimized([x], [((x * 3.0) * 5.0) + 1.0 + 2.0], mode="fast_compile")
    assert opt.fired("collect_constants") == 2
    constants = [
        v.data.item() for n in opt.fgraph.toposort() for v in n.inputs if hasattr(v, "data")
    ]
    assert sorted(constants) == [3.0, 15.0]
    opt.check_values(XV)


def test_useless_dimshuffles_and_casts_disappear(optimized):
    x = _matrix()
    y = th.transpose(th.transpose(x)) + th.cast(x, "float64")
    opt = optimized([x], [y, th.expand_dims(x, 0).dimshuffle(1, 2)], mode="fast_compile")
    assert opt.fired("useless_dimshuffle") >= 2
    assert [str(op) for op in opt.ops()] == ["Elemwise{add}"]
    assert opt.fgraph.outputs[1] is opt.fgraph.inputs[0]
    opt.check_values(XV)


def test_dimshuffles_in_a_row_become_one(optimized):
    x = th.tensor("x", dtype="float64", shape=(None, None, None))
    opt = optimized(
        [x], [th.transpose(th.expand_dims(th.transpose(x, (2, 0, 1)), 0))], mode="fast_compile"
    )
    assert opt.fired("useless_dimshuffle") >= 1 and len(opt.ops()) == 1
    opt.check_values(RNG.normal(size=(2, 3, 4)))


def test_second_and_constant_where_simplify(optimized):
    x = _matrix()
    y = th.where(th.constant(True), x, th.exp(x)) + th.second(x, x)
    opt = optimized([x], [y], mode="fast_compile")
    assert opt.fired("where_constant_condition") == 1 and opt.fired("useless_second") == 1
    assert [str(op) for op in opt.ops()] == ["Elemwise{add}"]
    opt.check_values(XV)


def test_disconnected_grad_is_removed_after_differentiation(optimized):
    x = th.vector("x", dtype="float64")
    opt = optimized([x], [th.logsumexp(x)])
    assert opt.fired("remove_disconnected_grad") == 1
    opt.check_values(np.array([1.0, 2.0, 3.0]), rtol=1e-14)


def test_gradient_override_is_removed_after_differentiation(optimized):
    from theanine.graph.ops.custom_gradient import GradientOverride

    x = th.vector("x", dtype="float64")
    y = GradientOverride(lambda g: 3 * g, 1)(x, th.exp(x))
    opt = optimized([x], [y + th.grad(th.sum(y), x)])
    assert opt.fired("remove_gradient_override") == 1
    assert not any(isinstance(op, GradientOverride) for op in opt.ops())
    opt.check_values(np.array([1.0, 2.0, 3.0]), rtol=1e-14)


def test_fast_compile_runs_constant_folding_but_not_stabilize():
    x = th.vector("x", dtype="float64")
    f = th.function([x], th.log(1.0 + x) + th.exp(th.constant(0.0)), mode="fast_compile")
    assert "constant_folding" in f.rewrite_report.fired and "log1p" not in f.rewrite_report.fired
    np.testing.assert_allclose(f(np.array([0.5])), np.log(1.5) + 1.0)


def test_shared_variables_stay_themselves_after_rewriting():
    w = th.shared(np.ones(3), name="w")
    x = th.vector("x", dtype="float64")
    f = th.function([x], w * 1.0 + x, updates=[(w, w * 2.0)])
    readers = [v for o in f.optimized_outputs for v in th.graph.basic.graph_inputs([o])]
    assert any(v is w for v in readers if isinstance(v, SharedVariable))
    np.testing.assert_allclose(f(np.zeros(3)), np.ones(3))
    np.testing.assert_allclose(w.get_value(), 2 * np.ones(3))
    assert all(isinstance(n.op, Elemwise) for n in th.graph.basic.apply_nodes(f.optimized_outputs))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_stack_of_one_tensor_is_a_view_of_it(optimized, axis):
    x = _matrix()
    opt = optimized([x], [th.stack([x], axis=axis), th.concatenate([x], axis=1)])
    assert opt.fired("join_of_one") == 2
    assert not any(type(n.op).__name__ == "Join" for n in opt.fgraph.toposort())
    opt.check_values(XV)
    np.testing.assert_array_equal(th.function([x], th.stack([x], axis=axis))(XV), np.stack([XV], axis=axis))

"""Inplace: the destroy handler's rules, and the inplace variants' values on both backends."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.evaluate import evaluate
from theanine.graph.fgraph import FunctionGraph, InconsistencyError
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.linalg import MatMul
from theanine.graph.rewriting import optimize
from theanine.graph.rewriting.inplace import DestroyHandler, ElemwiseInplace, IncSubtensorInplace, execution_order

RNG = np.random.default_rng(13)
X, W = th.matrix("x", dtype="float64"), th.matrix("w", dtype="float64")
XV, WV = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 4))


def _destroyers(f):
    return [n for n in apply_nodes(f.optimized_outputs) if getattr(n.op, "destroy_map", None)]


def _unchanged_inputs(check, inputs, outputs, values, fired):
    copies = [v.copy() for v in values]
    compiled = check(inputs, outputs, values, fired)
    for value, copy in zip(values, copies, strict=True):
        np.testing.assert_array_equal(value, copy)
    return compiled


def test_elementwise_op_overwrites_a_private_intermediate(fast_run_check):
    product = X @ W
    out = th.sum(th.exp(product) * 0.5 + 1.0)
    for f in _unchanged_inputs(fast_run_check, [X, W], [out], [XV, WV], ["elemwise_inplace"]):
        (node,) = _destroyers(f)
        assert isinstance(node.op, ElemwiseInplace)
        assert isinstance(node.inputs[node.op.destroyed].owner.op, MatMul)


def test_inputs_outputs_and_shared_readers_are_never_overwritten():
    product = X @ W
    graphs = {
        "input": [th.exp(X) + 1.0],
        "output": [th.exp(product)],
        "second reader": [th.sum(th.exp(product), axis=0), product @ W],
        "view of an input": [th.sum(th.exp(X.T) * 2.0)],
    }
    for name, outputs in graphs.items():
        f = th.function([X, W], outputs, backend="numpy")
        assert not _destroyers(f), name


def test_destroy_handler_names_the_rule_that_forbids():
    product = X @ W
    reader = th.exp(product)
    fgraph = FunctionGraph([X, W], [th.sum(reader), product.T], clone=False)
    handler = DestroyHandler()
    fgraph.attach_feature(handler)
    assert "other readers" in handler.why_not(reader.owner, 0)
    doubled = th.exp(X) * 2.0
    fgraph = FunctionGraph([X], [th.sum(doubled)], clone=False)
    fgraph.attach_feature(handler)
    assert "graph input" in handler.why_not(doubled.owner.inputs[0].owner, 0)
    assert handler.why_not(doubled.owner, 0) is None


def test_a_result_that_leaves_as_an_output_may_be_inplace_only_where_outputs_are_copied():
    """Rule 4: a function's output must not live in a temporary the backend keeps; a loop step's
    outputs are copied into history rows at once (``outputs_copied``), so there it may."""
    for copied, expected in ((False, "graph output"), (True, None)):
        grown = th.exp(X) + 1.0
        result = th.set_subtensor(grown[:, :2], X[:, 2:])
        fgraph = FunctionGraph([X], [result], clone=False, outputs_copied=copied)
        handler = DestroyHandler()
        fgraph.attach_feature(handler)
        reason = handler.why_not(result.owner, 0)
        assert reason is None if expected is None else expected in reason


def test_validate_rejects_a_destroyed_variable_with_another_reader():
    product = X @ W
    bad = ElemwiseInplace(th.graph.ops.math.ELEMWISE_OPS["exp"].scalar_op, 0)(product)
    fgraph = FunctionGraph([X, W], [bad, product], clone=False)
    handler = DestroyHandler()
    fgraph.attach_feature(handler)
    with pytest.raises(InconsistencyError, match="overwrites"):
        handler.validate()


def test_set_and_inc_subtensor_update_a_private_tensor(fast_run_check):
    product = X @ W
    out = th.sum(th.set_subtensor(product[0], 2.0) * th.inc_subtensor((X @ W.T)[:, 1], 1.0) ** 2)
    fired = ["inc_subtensor_inplace"]
    for f in _unchanged_inputs(fast_run_check, [X, W], [out], [XV, WV], fired):
        assert any(isinstance(n.op, IncSubtensorInplace) for n in _destroyers(f))


@pytest.mark.parametrize("index", [(slice(1, None), slice(None, None, 2)), ([0, 0, 2],)], ids=["basic", "advanced"])
def test_the_gradient_of_indexing_scatters_in_place(fast_run_check, index):
    loss = th.sum(th.exp(X[index]) * 3.0)
    grad = th.grad(loss, X)
    _unchanged_inputs(fast_run_check, [X], [grad * 2.0], [XV], ["inc_subtensor_inplace"])


def test_gemm_accumulates_into_a_private_addend(fast_run_check):
    out = th.sum(th.tanh(th.exp(X @ W) + X @ W.T))
    for f in _unchanged_inputs(fast_run_check, [X, W], [out], [XV, WV], ["gemm_inplace"]):
        assert any(isinstance(n.op, Gemm) and n.op.inplace for n in _destroyers(f))


def test_gemv_accumulates_into_a_private_addend(fast_run_check):
    v = th.vector("v", dtype="float64")
    out = th.sum(th.tanh(th.exp(v) + W @ v))
    for f in _unchanged_inputs(fast_run_check, [W, v], [out], [WV, XV[0]], ["gemv_inplace"]):
        assert any(isinstance(n.op, Gemv) and n.op.inplace for n in _destroyers(f))


def test_a_shared_update_reuses_the_shared_storage_when_only_the_update_reads_it():
    value = RNG.normal(size=(4, 4))
    shared = th.shared(value.copy(), name="v")
    grad = th.matrix("g", dtype="float64")
    new_value = shared * 0.9 + grad
    optimized, report = optimize([grad, shared], [new_value], "fast_run", updates={0: 1})
    assert report.fired["elemwise_inplace"] == 1
    (node,) = [n for n in apply_nodes(optimized) if getattr(n.op, "destroy_map", None)]
    assert node.inputs[node.op.destroyed] is shared
    storage, gv = value.copy(), RNG.normal(size=(4, 4))
    (result,) = evaluate(optimized, {grad: gv, shared: storage})
    assert result is storage
    np.testing.assert_allclose(result, value * 0.9 + gv, rtol=1e-15)


def test_a_shared_update_runs_in_place_after_every_other_reader():
    """A weight read by the forward pass is still updated in its own storage: the execution
    order runs the update after the product that reads the old value."""
    value = RNG.normal(size=(4, 4))
    shared = th.shared(value.copy(), name="v")
    grad = th.matrix("g", dtype="float64")
    loss = th.sum(shared @ shared.T)
    optimized, report = optimize([grad, shared], [loss, shared * 0.9 + grad], "fast_run", updates={1: 1})
    _, without_updates = optimize([grad, shared], [shared * 0.9 + grad, loss], "fast_run")
    assert report.fired["elemwise_inplace"] == 1 and "elemwise_inplace" not in without_updates.fired
    order = execution_order(optimized, [grad, shared])
    (update,) = [k for k, n in enumerate(order) if getattr(n.op, "destroy_map", None)]
    readers = [k for k, n in enumerate(order) if any(v is shared for v in n.inputs) and k != update]
    assert readers and max(readers) < update
    storage, gv = value.copy(), RNG.normal(size=(4, 4))
    loss_value, result = evaluate(optimized, {grad: gv, shared: storage})
    assert result is storage
    np.testing.assert_allclose(loss_value, np.sum(value @ value.T), rtol=1e-12)
    np.testing.assert_allclose(result, value * 0.9 + gv, rtol=1e-15)


@pytest.mark.parametrize(
    "outputs, reason",
    [
        (lambda v, g: [v, v * 0.9 + g], "the old value is an output"),
        (lambda v, g: [v.T, v * 0.9 + g], "a view of the old value is an output"),
        (lambda v, g: [th.sum(v), v * 0.9 + v.T + g], "the update reads v through a view too"),
    ],
)
def test_a_shared_update_keeps_a_copy_when_the_old_value_is_still_needed(outputs, reason):
    shared = th.shared(RNG.normal(size=(4, 4)), name="v")
    grad = th.matrix("g", dtype="float64")
    _, report = optimize([grad, shared], outputs(shared, grad), "fast_run", updates={1: 1})
    assert "elemwise_inplace" not in report.fired, reason


def test_a_destroyer_whose_result_another_reader_needs_is_rejected():
    """An update of v read again by a node that also needs the new value would form a cycle."""
    shared = th.shared(RNG.normal(size=(4, 4)), name="v")
    grad = th.matrix("g", dtype="float64")
    fgraph = FunctionGraph([grad, shared], [shared + grad], updates={0: 1})
    fgraph.attach_feature(DestroyHandler())
    (node,) = fgraph.apply_nodes
    handler = fgraph.features[-1]
    assert handler.why_not(node, _position(node, shared)) is None
    new_value = shared + grad
    fgraph = FunctionGraph([grad, shared], [new_value * shared, new_value], updates={1: 1})
    fgraph.attach_feature(DestroyHandler())
    adder = next(n for n in fgraph.apply_nodes if n.outputs[0] is fgraph.outputs[1])
    assert "depends on the result" in fgraph.features[-1].why_not(adder, _position(adder, shared))


def _position(node, var) -> int:
    return next(k for k, v in enumerate(node.inputs) if v is var)


def test_inplace_perform_copies_read_only_inputs():
    op = ElemwiseInplace(th.graph.ops.math.ELEMWISE_OPS["add"].scalar_op, 0)
    node = op.make_node(X, W[:3])
    frozen = XV.copy()
    frozen.setflags(write=False)
    (result,) = op.perform(node, [frozen, WV[:3]])
    np.testing.assert_array_equal(result, XV + WV[:3])
    np.testing.assert_array_equal(frozen, XV)

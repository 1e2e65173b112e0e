"""Loop rewrites: the step is optimized, invariant and per-step-vectorizable work leaves the loop,
outputs read only at [-1] keep one value; each fires and keeps the values."""

import numpy as np

import theanine as th
from theanine.graph.basic import apply_nodes
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.scan_op import Scan

R = np.random.default_rng(3)


def _scan_nodes(optimized):
    return [n for n in optimized.fgraph.toposort() if isinstance(n.op, Scan)]


def _inner_ops(node):
    return [n.op for n in apply_nodes(node.op.inner_outputs, stop=node.op.inner_inputs)]


def _rnn(x, h0, W, U, b):
    def step(x_t, h):
        return th.tanh(x_t @ W + h @ U + b)

    hs, _ = th.scan(step, sequences=x, outputs_info=h0)
    return hs


def _rnn_inputs():
    x, h0 = th.tensor("x", "float64", (None, None, 3)), th.tensor("h0", "float64", (None, 4))
    W, U, b = th.tensor("W", "float64", (3, 4)), th.tensor("U", "float64", (4, 4)), th.tensor("b", "float64", (4,))
    values = [R.standard_normal((6, 2, 3)), R.standard_normal((2, 4)), R.standard_normal((3, 4)),
              R.standard_normal((4, 4)) * 0.5, R.standard_normal(4)]
    return [x, h0, W, U, b], values


def test_input_projection_leaves_the_loop(optimized):
    inputs, values = _rnn_inputs()
    optimized = optimized(inputs, [_rnn(*inputs)])
    optimized.check_values(*values, rtol=1e-12)
    assert optimized.fired("scan_push_out") >= 1
    (node,) = _scan_nodes(optimized)
    products = [op for op in _inner_ops(node) if "MatMul" in str(op) or "Gemm" in str(op)]
    assert len(products) == 1, "only h @ U stays inside the step"
    outside = [n for n in optimized.fgraph.toposort() if isinstance(n.op, MatMul)]
    assert outside and outside[0].inputs[1].name == "W", "x_t @ W is one product over all steps"


def test_invariant_expressions_are_computed_once(optimized):
    x, W = th.tensor("x", "float64", (None, 3)), th.tensor("W", "float64", (3,))
    out, _ = th.scan(lambda v: v * th.exp(W).sum() + th.constant(2.0) * 3.0, sequences=x)
    optimized = optimized([x, W], [out])
    optimized.check_values(R.standard_normal((4, 3)), R.standard_normal(3), rtol=1e-12)
    (node,) = _scan_nodes(optimized)
    assert not any("exp" in str(op) for op in _inner_ops(node))


def test_elementwise_work_on_sequences_leaves_the_loop(optimized):
    x, h0 = th.tensor("x", "float64", (None, 3)), th.tensor("h0", "float64", (3,))
    out, _ = th.scan(lambda v, h: h * 0.5 + th.exp(v) * 2.0, sequences=x, outputs_info=h0)
    optimized = optimized([x, h0], [out])
    optimized.check_values(R.standard_normal((5, 3)), R.standard_normal(3), rtol=1e-12)
    (node,) = _scan_nodes(optimized)
    assert not any("exp" in str(op) for op in _inner_ops(node))


def test_random_draws_stay_in_the_loop():
    rng = th.random.RandomStream(1)
    out, _ = th.scan(lambda h: h + rng.normal((2,), dtype="float64"), outputs_info=th.zeros((2,), "float64"),
                     n_steps=3)
    f = th.function([], out)
    values = f()
    assert not np.allclose(values[0], values[1] - values[0])


def test_last_value_only_keeps_one_step_of_memory(optimized):
    inputs, values = _rnn_inputs()
    optimized = optimized(inputs, [_rnn(*inputs)[-1]])
    optimized.check_values(*values, rtol=1e-12)
    assert optimized.fired("scan_save_memory") == 1
    (node,) = _scan_nodes(optimized)
    assert node.op.spec.keep_last == (True,) and node.outputs[0].type.shape[0] == 1


def test_full_sequence_readers_keep_every_step(optimized):
    inputs, values = _rnn_inputs()
    hs = _rnn(*inputs)
    optimized = optimized(inputs, [hs[-1], hs.sum()])
    optimized.check_values(*values, rtol=1e-12)
    assert optimized.fired("scan_save_memory") == 0


def test_step_is_canonicalized_fused_and_reported():
    x = th.tensor("x", "float64", (None, 3))
    out, _ = th.scan(lambda v, h: th.tanh(h * 1.0 + 0.0) * th.sigmoid(h) + v, sequences=x,
                     outputs_info=th.zeros((3,), "float64"), name="cell")
    f = th.function([x], out)
    report = str(th.explain(f))
    assert "cell/mul_by_one" in report and "cell/elemwise_fusion" in report and "scan_optimize" in report
    node = next(n for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Scan))
    assert any(isinstance(op, Elemwise) and "Composite" in str(op) for op in _inner_ops(node))
    data = R.standard_normal((4, 3))
    np.testing.assert_allclose(f(data), th.function([x], out, mode="none")(data), rtol=1e-12)


def test_gradient_loop_is_optimized_too(optimized):
    inputs, values = _rnn_inputs()
    hs = _rnn(*inputs)
    grads = th.grad((hs ** 2).sum(), inputs[2:])
    optimized = optimized(inputs, grads)
    optimized.check_values(*values, rtol=1e-10)
    assert any(name.startswith("grad_") for name in optimized.report.fired)


def _lstm_gradient_inputs():
    x = th.tensor("x", "float64", (None, 3, 2))
    kernel, recurrent, bias = (th.tensor("k", "float64", (2, 8)), th.tensor("r", "float64", (2, 8)),
                               th.tensor("b", "float64", (8,)))

    def step(x_t, h, c):
        z = x_t @ kernel + h @ recurrent + bias
        i, f, g, o = th.sigmoid(z[:, :2]), th.sigmoid(z[:, 2:4]), th.tanh(z[:, 4:6]), th.sigmoid(z[:, 6:])
        c_new = f * c + i * g
        return o * th.tanh(c_new), c_new

    zeros = th.zeros((3, 2), "float64")
    (hs, _), _ = th.scan(step, sequences=x, outputs_info=[zeros, zeros])
    cost = (hs ** 2).mean()
    values = [R.standard_normal((5, 3, 2)), R.standard_normal((2, 8)), R.standard_normal((2, 8)),
              R.standard_normal(8)]
    return [x, kernel, recurrent, bias], cost, values


def test_gradient_sums_leave_the_loop_as_products_over_all_steps(fast_run_check):
    """BPTT's weight gradients are accumulators in the reverse loop: each becomes one product (or
    one reduction for the bias) over the folded steps, and the input gradient nobody reads is pruned."""
    inputs, cost, values = _lstm_gradient_inputs()
    grads = th.grad(cost, inputs[1:])
    numpy_f, _ = fast_run_check(inputs, grads, values, fired=("scan_push_out_sums", "scan_prune_outputs"),
                                rtol=1e-10)
    assert numpy_f.rewrite_report.fired["scan_push_out_sums"] == 3
    loops = [n for n in apply_nodes(numpy_f.optimized_outputs) if isinstance(n.op, Scan)]
    backward = next(n for n in loops if n.op.name.startswith("grad"))
    assert backward.op.spec.n_recurrent == 2, "only dh and dc are carried back; the weight sums left"
    assert not any("Gemm" in str(op) and "beta=1" in str(op) for op in _inner_ops(backward))
    outside = [n for n in apply_nodes(numpy_f.optimized_outputs) if type(n.op).__name__ in ("MatMul", "Gemm")]
    assert len(outside) >= 3
    assert not any(type(n.op).__name__ == "Gemm" for n in outside), "the sums start from zeros: plain products"


def test_an_accumulator_read_inside_the_step_stays_in_the_loop(fast_run_check):
    x = th.tensor("x", "float64", (None, 3))

    def step(v, acc):
        total = acc + v * 2.0
        return total, (total ** 2).sum()

    (totals, squares), _ = th.scan(step, sequences=x, outputs_info=[th.zeros((3,), "float64"), None])
    f, _ = fast_run_check([x], [totals[-1], squares], [R.standard_normal((4, 3))], rtol=1e-12)
    assert f.rewrite_report.fired.get("scan_push_out_sums", 0) == 0


def test_increments_of_zeros_added_together_become_one_chain_in_place(fast_run_check):
    """The gradient of four slices of a tensor: no zero-padded copy per slice."""
    z = th.tensor("z", "float64", (4, 8))
    cost = sum((th.tanh(z[:, 2 * k:2 * k + 2]) * (k + 1)).sum() for k in range(4))
    f, _ = fast_run_check([z], [th.grad(cost, z)], [R.standard_normal((4, 8))],
                          fired=("add_of_increment_of_zeros",), rtol=1e-12)
    adds = [n for n in apply_nodes(f.optimized_outputs) if "add" in str(n.op) and n.outputs[0].ndim == 2
            and "Composite" not in str(n.op)]
    assert not adds


def test_loops_of_the_same_length_merge_into_one(fast_run_check):
    """A bidirectional recurrence: the forward and the reversed loop run as one loop, and so do
    their two gradient loops; a loop reading the other's result does not merge with it."""
    x = th.tensor("x", "float64", (None, 3))
    zeros = th.zeros((3,), "float64")
    forward, _ = th.scan(lambda v, h: th.tanh(v + h), sequences=x, outputs_info=zeros)
    backward, _ = th.scan(lambda v, h: h * 0.5 + v, sequences=x[::-1], outputs_info=zeros)
    both = forward + backward[::-1]
    then, _ = th.scan(lambda v, h: h + v, sequences=both, outputs_info=zeros)
    outputs = [then, th.grad((both ** 2).sum(), x)]
    f, _ = fast_run_check([x], outputs, [R.standard_normal((5, 3))], fired=("scan_merge",), rtol=1e-12)
    names = sorted(str(n.op) for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Scan))
    assert names == ["Scan{grad_scan+grad_scan,last}", "Scan{scan+scan}", "Scan{scan}"], names


def test_the_forward_loop_runs_once_and_records_its_products_for_the_gradient(fast_run_check):
    """Only the last state is read (keep_last), so the gradient builds a recording twin of the
    forward loop: the loop runs once all the same, and the reverse loop reads the recorded
    products (the pre-activations) instead of multiplying again; the recorded ``x_t @ W``, moved
    before the loop as a sequence, is that sequence (scan_pass_through), not a copy per step."""
    inputs, values = _rnn_inputs()
    last = _rnn(*inputs)[-1]
    cost = (last ** 2).sum()
    outputs = [last, *th.grad(cost, inputs[2:])]
    f, _ = fast_run_check(inputs, outputs, values, fired=("scan_merge_twins", "scan_pass_through"), rtol=1e-10)
    loops = [n for n in apply_nodes(f.optimized_outputs) if isinstance(n.op, Scan)]
    assert sorted(n.op.name for n in loops) == ["grad_scan", "scan_record"]
    backward = next(n for n in loops if n.op.name.startswith("grad"))
    products = [op for op in _inner_ops(backward) if "MatMul" in str(op) or "Gemm" in str(op)]
    assert len(products) == 1, "only the gradient sent back through U stays in the reverse step"

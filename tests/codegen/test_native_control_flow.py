"""Scan as a native loop (LoopStep) and IfElse as a native branch (BranchStep): which programs
compile natively, and that they agree with NumPy.

Every program here must run without a Python fallback under ``llvm`` and
give what the ``numpy`` backend (the op's ``perform``) gives; the value
tests of tests/graph/test_scan.py and test_ifelse.py run the same programs
under every backend.
"""

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.program.kernel_ir import BranchStep, HostCall, LoopStep, flat_steps
from theanine.codegen.program.lowering import lower

R = np.random.default_rng(5)


def _both(inputs, outputs, values, updates=None, threads=1):
    """(llvm results, numpy results, the llvm function)."""
    with th.config.context(num_threads=threads):
        native = th.function(inputs, outputs, updates=updates, backend="llvm")
        reference = th.function(inputs, outputs, updates=updates, backend="numpy")
        return native(*values), reference(*values), native


def _program(f):
    return lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True)


def _assert_native(f, kind=LoopStep):
    steps = flat_steps(_program(f).steps)
    assert f.python_fallbacks == [], [str(n.op) for n in f.python_fallbacks]
    assert any(isinstance(s, kind) for s in steps)
    assert not any(isinstance(s, HostCall) for s in steps)


def _f64(name, shape):
    return th.tensor(name, "float64", shape)


def test_rnn_with_taps_mapped_outputs_and_non_sequences():
    x, h0, W = _f64("x", (None, 3)), _f64("h0", (2, 3)), _f64("W", (3, 3))

    def step(x_t, h_2, h_1, W):
        h = th.tanh(x_t + h_1 @ W - 0.5 * h_2)
        return h, (h ** 2).sum()

    (hs, energy), _ = th.scan(step, sequences=x, outputs_info=[dict(initial=h0, taps=[-2, -1]), None],
                              non_sequences=W)
    values = [R.standard_normal((7, 3)), R.standard_normal((2, 3)), R.standard_normal((3, 3)) * 0.5]
    got, want, f = _both([x, h0, W], [hs, energy], values)
    _assert_native(f)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_only_the_last_value_kept_reads_a_ring_of_rows():
    x, h0 = _f64("x", (None, 4)), _f64("h0", (3, 4))
    hs, _ = th.scan(lambda x_t, a, b: 0.5 * a + 0.25 * b + x_t, sequences=x,
                    outputs_info=dict(initial=h0, taps=[-3, -1]))
    for steps in (0, 1, 5):
        got, want, f = _both([x, h0], hs[-1], [R.standard_normal((steps, 4)), R.standard_normal((3, 4))])
        _assert_native(f)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_while_loop_exits_natively_with_its_length():
    a = th.scalar("a", "float64")
    values, _ = th.scan(lambda v: (v * 1.5, th.until(v * 1.5 > 20.0)), outputs_info=a, n_steps=100)
    got, want, f = _both([a], [values, values[-1]], [2.0])
    _assert_native(f)
    assert got[0].shape == (6,)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_random_draws_in_the_step_advance_the_generator_natively():
    rng = th.random.RandomStream(7)
    walk, updates = th.scan(lambda v: v + rng.normal(size=(3,), dtype="float64"),
                            outputs_info=th.zeros((3,), "float64"), n_steps=6)
    f = th.function([], walk, updates=updates, backend="llvm")
    _assert_native(f)
    first, second = f(), f()
    assert first.shape == (6, 3) and not np.allclose(first, second)
    rng.reseed(7)
    np.testing.assert_array_equal(f(), first)
    np.testing.assert_allclose(np.diff(first, axis=0).std(), 1.0, atol=0.6)


def test_nested_loops_are_native_at_both_levels():
    x = _f64("x", (None, None))

    def row(r):
        inner, _ = th.scan(lambda v, acc: acc * 0.5 + v, sequences=r, outputs_info=th.constant(0.0))
        return inner[-1]

    out, _ = th.scan(row, sequences=x)
    got, want, f = _both([x], out, [R.standard_normal((4, 5))])
    _assert_native(f)
    loops = [s for s in flat_steps(_program(f).steps) if isinstance(s, LoopStep)]
    assert len(loops) == 2
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_large_step_body_runs_on_every_thread(threads):
    """Bodies whose buffers pass the parallel threshold split their kernels across the threads."""
    x, h0 = th.tensor("x", "float32", (None, 300, 300)), th.tensor("h0", "float32", (300, 300))
    hs, _ = th.scan(lambda x_t, h: th.tanh(x_t + 0.5 * h), sequences=x, outputs_info=h0)
    cost = (hs ** 2).mean()
    values = [R.standard_normal((3, 300, 300)).astype("float32"), R.standard_normal((300, 300)).astype("float32")]
    got, want, f = _both([x, h0], [hs, th.grad(cost, h0)], values, threads=threads)
    _assert_native(f)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def test_lstm_training_gradients_match_numpy_with_sums_after_the_loop():
    x = th.tensor("x", "float32", (None, 4, 3))
    kernel, recurrent = th.tensor("k", "float32", (3, 8)), th.tensor("r", "float32", (2, 8))

    def step(x_t, h, c):
        z = x_t @ kernel + h @ recurrent
        i, f, g, o = th.sigmoid(z[:, :2]), th.sigmoid(z[:, 2:4]), th.tanh(z[:, 4:6]), th.sigmoid(z[:, 6:])
        c_new = f * c + i * g
        return o * th.tanh(c_new), c_new

    zeros = th.zeros((4, 2), "float32")
    (hs, _), _ = th.scan(step, sequences=x, outputs_info=[zeros, zeros])
    cost = (hs ** 2).mean()
    values = [R.standard_normal((5, 4, 3)).astype("float32"), R.standard_normal((3, 8)).astype("float32"),
              R.standard_normal((2, 8)).astype("float32")]
    got, want, f = _both([x, kernel, recurrent], [cost, *th.grad(cost, [kernel, recurrent])], values)
    _assert_native(f)
    assert f.rewrite_report.fired.get("scan_push_out_sums", 0) >= 2
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_a_step_needing_a_python_fallback_runs_the_whole_loop_through_perform():
    class Reversed(th.Op):
        """An op with only NumPy reference semantics."""

        def make_node(self, x):
            x = th.as_tensor(x)
            return th.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0][::-1].copy()]

    x = _f64("x", (None, 3))
    out, _ = th.scan(lambda v, h: Reversed()(v) + h, sequences=x, outputs_info=th.zeros((3,), "float64"))
    got, want, f = _both([x], out, [R.standard_normal((4, 3))])
    assert [type(n.op).__name__ for n in f.python_fallbacks] == ["Scan"]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_failing_loop_leaves_shared_state_as_it_was():
    """The step's shape check fails at run time in the last iteration; the update is not applied."""
    w = th.shared(np.ones(3), name="w")
    x = _f64("x", (None, None))
    out, _ = th.scan(lambda v, acc: acc + v * w, sequences=x, outputs_info=th.zeros((3,), "float64"))
    f = th.function([x], out[-1], updates={w: w * 2.0}, backend="llvm")
    np.testing.assert_allclose(f(np.ones((2, 3))), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(w.get_value(), 2.0)
    with pytest.raises(ValueError, match="broadcast|shape"):
        f(np.ones((2, 4)))
    np.testing.assert_allclose(w.get_value(), 2.0)


def test_n_steps_longer_than_a_sequence_names_both_numbers_natively():
    x, n = _f64("x", (None,)), th.scalar("n", "int64")
    out, _ = th.scan(lambda v, h: v + h, sequences=x, outputs_info=th.constant(0.0), n_steps=n)
    f = th.function([x, n], out, backend="llvm")
    _assert_native(f)
    np.testing.assert_allclose(f(np.arange(4.0), 3), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError, match=r"n_steps=5 but sequence 0 has only 3 step"):
        f(np.zeros(3), 5)


def test_ifelse_runs_only_the_branch_taken_natively():
    """The branch not taken would fail (an index out of bounds): it is never run."""
    c, x = th.scalar("c", "float64"), _f64("x", (None,))
    out = th.ifelse(c > 0, x[:2] * 2.0, x[10:13] + x[12])
    f = th.function([c, x], out, backend="llvm")
    _assert_native(f, BranchStep)
    np.testing.assert_allclose(f(1.0, np.arange(3.0)), [0.0, 2.0])
    np.testing.assert_allclose(f(-1.0, np.arange(14.0)), [22.0, 23.0, 24.0])
    with pytest.raises(IndexError, match="out of bounds"):
        f(-1.0, np.arange(3.0))


@pytest.mark.parametrize("condition", [0.5, 0.0, -2.0])
def test_ifelse_condition_is_its_truth_value(condition):
    c, x, y = th.scalar("c", "float64"), _f64("x", (2, 3)), _f64("y", (2, 3))
    outs = th.ifelse(c, [x + y, x.sum()], [x * y, y.sum()])
    values = [condition, R.standard_normal((2, 3)), R.standard_normal((2, 3))]
    got, want, f = _both([c, x, y], outs, values)
    _assert_native(f, BranchStep)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_ifelse_gradient_and_ifelse_inside_a_loop_are_native():
    x = _f64("x", (None, 3))

    def step(v, h):
        return th.ifelse(v.sum() > 0, h + v, h * 0.5 - v)

    hs, _ = th.scan(step, sequences=x, outputs_info=th.zeros((3,), "float64"))
    cost = (hs ** 2).sum()
    got, want, f = _both([x], [hs, th.grad(cost, x)], [R.standard_normal((6, 3))])
    _assert_native(f, BranchStep)
    _assert_native(f, LoopStep)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)

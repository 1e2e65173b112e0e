"""NanGuardMode, DebugMode and profile=True, under the compiled (llvm) backend and numpy."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.math import ELEMWISE_OPS


def test_nan_guard_names_the_node_the_bad_output_and_the_users_line(backend):
    x = th.dvector("x")
    y = th.log(x) * 2  # the line the error must name
    line = test_nan_guard_names_the_node_the_bad_output_and_the_users_line.__code__.co_firstlineno + 2
    f = th.function([x], y.sum(), mode="NanGuardMode", backend=backend)
    assert f([1.0, np.e]) == pytest.approx(2.0)
    with pytest.raises(th.NanGuardError, match=f"NaN in output 0 of .*log.*test_debug_modes.py:{line}"):
        f([1.0, -1.0])
    with pytest.raises(th.NanGuardError, match="x: float64\\(2,\\) in \\[-1.0, 1.0\\]"):
        f([1.0, -1.0])


def test_nan_guard_reports_a_bad_function_input_at_the_first_node_reading_it(backend):
    x = th.dvector("x")
    f = th.function([x], th.exp(x) + 1, mode=th.NanGuardMode(), backend=backend)
    with pytest.raises(th.NanGuardError, match="NaN in input 0 of .*; that input is the function "
                                               "input x"):
        f([np.nan, 1.0])


def test_nan_guard_inf_and_big_values_and_switches(backend):
    x = th.dvector("x")
    expression = th.exp(x)
    f = th.function([x], expression, mode=th.NanGuardMode(), backend=backend)
    with pytest.raises(th.NanGuardError, match="an infinity in output 0"):
        f([1000.0])
    with pytest.raises(th.NanGuardError, match="a value above 1e\\+10 in magnitude"):
        f([30.0])
    relaxed = th.function([x], expression, backend=backend,
                          mode=th.NanGuardMode(inf_is_error=False, big_is_error=False))
    assert np.isinf(relaxed([1000.0])[0])
    assert isinstance(th.NanGuardError("x"), AssertionError)  # Theano raises AssertionError


def test_nan_guard_on_a_training_step_with_shared_state():
    w = th.shared(np.array([1.0, -1.0]), name="w")
    x = th.dvector("x")
    cost = th.sum(th.sqrt(w * x))
    step = th.function([x], cost, updates=[(w, w - 0.1 * th.grad(cost, w))], mode="NanGuardMode")
    step([1.0, -1.0])
    with pytest.raises(th.NanGuardError, match="NaN in output 0 of .*sqrt"):
        step([1.0, 1.0])
    np.testing.assert_allclose(w.get_value(), [1.0 - 0.05, -1.0 + 0.05])  # the failed call left it


def test_debug_mode_passes_a_correct_graph_and_catches_a_wrong_kernel(monkeypatch):
    x = th.dmatrix("x")
    y = th.softmax(th.exp(x) * 2 + 1).sum(axis=0)
    f = th.function([x], y, mode="DebugMode")
    value = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(f(value), th.function([x], y, backend="numpy")(value), rtol=1e-12)
    # make the NumPy reference of exp disagree with the native code compiled for it
    monkeypatch.setattr(ELEMWISE_OPS["exp"].scalar_op, "impl", lambda a: np.exp(a) + 1.0)
    z = th.exp(th.dvector("v"))
    g = th.function(list(th.graph.basic.graph_inputs([z])), z, mode=th.DebugMode(optimizer="none"))
    with pytest.raises(th.BadThunkOutput, match="output 0 of Elemwise\\{exp\\}, created at .*"
                                                "test_debug_modes.py:\\d+, differs between the "
                                                "backend and the NumPy reference \\(perform\\): "
                                                "2 of 2 values differ; at index \\(0,\\) the "
                                                "backend gave 1.0, the reference 2.0"):
        g([0.0, 1.0])


def test_profile_counts_calls_and_times_per_op_and_node(backend):
    x = th.dmatrix("x")
    y = th.tanh(th.dot(x, x.T)).sum()
    f = th.function([x], y, profile=True, backend=backend, name="profiled")
    plain = th.function([x], y, backend=backend)
    value = np.random.default_rng(1).normal(size=(5, 5))
    for _ in range(3):
        assert f(value) == pytest.approx(plain(value))
    stats = f.profile
    assert stats.calls == 3 and stats.call_seconds > 0
    assert all(calls == 3 for _, _, calls in stats.node_times())
    ops = stats.op_times()
    assert [row[1] for row in ops] == sorted((row[1] for row in ops), reverse=True)
    assert sum(row[3] for row in ops) == len(stats.nodes) == len(f._node_runner.nodes)
    text = str(stats)
    assert text.startswith("Function profiling: profiled\n  3 call(s)")
    assert "Ops (most time first):" in text and "Apply nodes (most time first):" in text
    assert any("MatMul" in op or "Gemm" in op or "dot" in op.lower() for op, *_ in ops)
    assert th.function([x], y).profile is None

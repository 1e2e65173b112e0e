"""Scan loops as device kernels under ``cuda-emulated``: a LoopStep's body prints as kernels the
runner launches once per iteration, its counter kept on the device by the loop's own kernels.
(tests/graph/test_scan.py runs its programs under cuda-emulated too; these add nested and while
loops whose bodies hold a GEMM and a two-pass reduction, an ifelse (BranchStep: the runner launches
the kernels of the body its condition picks) in and out of a loop, the launch counts, and a failing
body.)"""

import cuda_graphs
import numpy as np
import pytest

import theanine as th
from theanine.codegen.program.kernel_ir import LoopStep


@pytest.mark.parametrize("name", ["nested", "while", "mapped_and_carried", "branches"])
def test_loops_run_as_device_kernels_and_match_numpy(name):
    inputs, outputs, values = cuda_graphs.loops()[name]
    f = th.function(inputs, outputs, backend="cuda-emulated")
    assert f.python_fallbacks == []
    runner = f._run.__self__
    assert any(isinstance(step, LoopStep) for step in runner.program.steps)
    assert any(path for _, path in runner.kernels)
    expected = th.function(inputs, outputs, backend="numpy")(*values)
    for _ in range(2):  # the second call reuses the pool's blocks and restarts the counter
        for got, want in zip(f(*values), expected, strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _counting(f):
    """Wrap the device's launches of ``f`` to count them by kernel name."""
    device = f._run.__self__.device
    counts: dict[str, int] = {}
    launch = device.launch

    def counted(module, kernel, grid, block, records):
        counts[kernel.name] = counts.get(kernel.name, 0) + 1
        launch(module, kernel, grid, block, records)

    device.launch = counted
    return counts


def test_each_iteration_launches_the_body_once_and_advances_the_counter_on_the_device():
    a = th.scalar("a", "float64")
    values, _ = th.scan(lambda v: (v * 1.5, th.until(v * 1.5 > 20.0)), outputs_info=a, n_steps=100)
    f = th.function([a], values, backend="cuda-emulated")
    counts = _counting(f)
    np.testing.assert_allclose(f(2.0), [3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125])
    loop = next(k for k, step in enumerate(f._run.__self__.program.steps) if isinstance(step, LoopStep))
    assert counts[f"k{loop}_start"] == 1 and counts[f"k{loop}_ran"] == 1
    assert counts[f"k{loop}_next"] == 6  # one per iteration run, including the one that stopped it
    body = [name for name in counts if name.startswith(f"k{loop}l")]
    assert body and all(counts[name] == 6 for name in body)


def test_a_failing_check_inside_the_loop_names_the_scan():
    x = th.tensor("x", "float64", (None,))
    out, _ = th.scan(lambda h: th.concatenate([h, h])[: th.shape(h)[0] + 1], outputs_info=x, n_steps=2)
    f = th.function([x], out, backend="cuda-emulated")
    with pytest.raises(ValueError, match="recurrent output 0 of shape"):
        f(np.zeros(2))


def test_only_the_branch_taken_runs_on_the_device():
    """The branch not taken would read out of bounds: its kernels are never launched."""
    c, x = th.scalar("c", "float64"), th.vector("x", "float64")
    f = th.function([c, x], th.ifelse(c > 0, x[:2] * 2.0, x[10:13] + x[12]), backend="cuda-emulated")
    assert f.python_fallbacks == []
    np.testing.assert_allclose(f(1.0, np.arange(3.0)), [0.0, 2.0])
    np.testing.assert_allclose(f(-1.0, np.arange(14.0)), [22.0, 23.0, 24.0])
    with pytest.raises(IndexError, match="out of bounds"):
        f(-1.0, np.arange(3.0))

"""Helpers for the rewriting tests: optimize with the verifier on, and compare values."""

import numpy as np
import pytest

from theanine.graph.fgraph import FunctionGraph
from theanine.graph.rewriting.db import MODES, run_phases
from theanine.graph.rewriting.report import RewriteReport
from theanine.runtime.numpy_backend import compile_numpy


class Optimized:
    """A graph optimized under ``mode`` with ``check_integrity`` after every phase."""

    def __init__(self, inputs, outputs, mode="fast_run"):
        self.fgraph = FunctionGraph(inputs, outputs)
        self.report = RewriteReport(mode)
        run_phases(self.fgraph, MODES[mode], self.report, verify=True)
        self.run = compile_numpy(self.fgraph.inputs, self.fgraph.outputs).run
        self.reference = compile_numpy(list(inputs), list(outputs)).run

    def fired(self, name: str) -> int:
        return self.report.fired.get(name, 0)

    def ops(self) -> list:
        return [node.op for node in self.fgraph.toposort()]

    def check_values(self, *values, rtol=1e-7, atol=0.0):
        """The optimized graph gives the unoptimized graph's values; returns the optimized ones."""
        got = self.run(list(values))
        expected = self.reference(list(values))
        for g, e in zip(got, expected, strict=True):
            assert np.asarray(g).dtype == np.asarray(e).dtype
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        return got


@pytest.fixture
def optimized():
    return Optimized


def check_fast_run(inputs, outputs, values, fired=(), rtol=1e-6, atol=0.0, backends=("numpy", "llvm")):
    """Compile ``outputs`` with mode="fast_run" under each backend: every rewrite in ``fired``
    shows in the report, and the values equal those of mode="none" under NumPy.  Returns the
    compiled functions (for further checks on their optimized graphs)."""
    import theanine as th

    expected = th.function(inputs, outputs, mode="none", backend="numpy")(*values)
    compiled = []
    for backend in backends:
        f = th.function(inputs, outputs, mode="fast_run", backend=backend)
        for name in fired:
            assert f.rewrite_report.fired.get(name, 0) >= 1, f"{name} did not fire:\n{f.rewrite_report}"
        for got, want in zip(f(*values), expected, strict=True):
            assert got.dtype == want.dtype and got.shape == want.shape, backend
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=backend)
        compiled.append(f)
    return compiled


@pytest.fixture
def fast_run_check():
    return check_fast_run

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
        for g, e in zip(got, expected):
            assert np.asarray(g).dtype == np.asarray(e).dtype
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        return got


@pytest.fixture
def optimized():
    return Optimized

"""Graph rewriting: databases of named rewrites and the drivers that apply them.

``optimize(inputs, outputs, mode)`` is what ``theanine.function`` calls;
``th.rewrite(outputs, mode)`` returns the optimized variables without
compiling, and ``th.explain(f)`` the report of what fired.  The standard
rewrites live in one module per phase (``canonicalize``, ``stabilize``,
``logistic``, ``fusion``) and register themselves in ``db.rewrite_db`` on import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from theanine.graph.basic import Constant, Variable, graph_inputs
from theanine.graph.config import config
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.rewriting import (  # noqa: F401  (registration)
    canonicalize,
    crossentropy,
    fusion,
    inplace,
    logistic,
    scan_rewrites,
    shapes,
    specialize,
    stabilize,
)
from theanine.graph.rewriting.db import MODES, run_phases
from theanine.graph.rewriting.drivers import RewriteCycleError
from theanine.graph.rewriting.report import RewriteReport
from theanine.graph.rewriting.rewriters import NodeRewriter, PatternRewriter, node_rewriter
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable

__all__ = [
    "rewrite",
    "explain",
    "node_rewriter",
    "PatternRewriter",
    "NodeRewriter",
    "RewriteReport",
    "RewriteCycleError",
    "FunctionGraph",
]


def _check_mode(mode: str) -> tuple[str, ...]:
    if mode not in MODES:
        raise ValueError(f"unknown rewrite mode {mode!r}; expected one of {sorted(MODES)}")
    return MODES[mode]


def optimize(
    inputs: Sequence[Variable],
    outputs: Sequence[Variable],
    mode: str,
    updates: Mapping[int, int] | None = None,
):
    """Return ``(optimized_outputs, report)`` for ``outputs`` under ``mode``.

    The rewrites work on a private copy (a FunctionGraph); the optimized
    outputs are expressed in the caller's own ``inputs`` variables.
    ``updates`` maps an output position to the position of the (shared
    variable) input it is the new value of: the inplace phase may then
    compute it in that input's storage (rule 5 of ``inplace.py``).  Without
    it no input is ever overwritten.
    """
    phases = _check_mode(mode)
    report = RewriteReport(mode)
    if not phases:
        return list(outputs), report
    fgraph = FunctionGraph(inputs, outputs, updates=updates)
    with config.context(compute_test_value="off"):
        run_phases(fgraph, phases, report)
    for index, original in enumerate(inputs):
        fgraph.replace_input(index, original, reason="restore inputs")
    return list(fgraph.outputs), report


def _free_inputs(outputs: Sequence[Variable]) -> list[Variable]:
    return [v for v in graph_inputs(outputs) if not isinstance(v, (Constant, SharedVariable))]


def rewrite(outputs, mode: str = "fast_run"):
    """The optimized version of ``outputs`` (a variable or a list: same form back), for inspection."""
    single = not isinstance(outputs, (list, tuple))
    variables = [as_tensor_variable(o) for o in ([outputs] if single else outputs)]
    shared = [v for v in graph_inputs(variables) if isinstance(v, SharedVariable)]
    optimized, _ = optimize(_free_inputs(variables) + shared, variables, mode)
    return optimized[0] if single else optimized


def explain(obj, mode: str = "fast_run") -> RewriteReport:
    """The rewrite report of a compiled function (or of optimizing variables under ``mode``).

    ``print(th.explain(f))`` lists each phase, the node counts before and
    after it, and each rewrite that fired, in order, with its count.
    """
    report = getattr(obj, "rewrite_report", None)
    if report is not None:
        return report
    single = not isinstance(obj, (list, tuple))
    variables = [as_tensor_variable(o) for o in ([obj] if single else obj)]
    _, report = optimize(_free_inputs(variables), variables, mode)
    return report

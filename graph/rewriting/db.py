"""The rewrite database, the ordered phases and the modes that select them.

Every rewrite is registered once with its tags.  A *phase* is named after
a tag: it runs the node rewriters with that tag to a fixed point (one
equilibrium driver), then the graph rewriters with that tag, in
registration order, then a merge pass when anything changed.  A *mode*
is the list of phases it runs:

- ``"fast_run"``: merge, canonicalize, stabilize, specialize, fusion, inplace;
- ``"fast_compile"``: merge, then canonicalize (which includes constant
  folding) only: what is cheap;
- ``"none"``: nothing.

Stabilize and specialize also run the canonicalize rewrites, so what their
rewrites build (e.g. logsumexp's constants) is folded and simplified too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from theanine.graph.fgraph import FunctionGraph
from theanine.graph.rewriting.drivers import EquilibriumRewriter, merge
from theanine.graph.rewriting.report import PhaseReport, RewriteReport
from theanine.graph.rewriting.rewriters import NodeRewriter

__all__ = [
    "RewriteDatabase",
    "rewrite_db",
    "register",
    "register_graph_rewriter",
    "PHASES",
    "MODES",
    "run_phases",
]

PHASES = ("merge", "canonicalize", "stabilize", "specialize", "fusion", "inplace")
MODES: dict[str, tuple[str, ...]] = {
    "fast_run": PHASES,
    "fast_compile": ("merge", "canonicalize"),
    "none": (),
}
PHASE_COMPANIONS: dict[str, tuple[str, ...]] = {
    "stabilize": ("canonicalize",),
    "specialize": ("canonicalize",),
}
"""Tags whose node rewriters also run inside a phase, to tidy what its rewrites build."""

GraphRewriter = Callable[[FunctionGraph, PhaseReport], None]


class RewriteDatabase:
    """Rewrites with tags, in registration order."""

    def __init__(self):
        self.entries: list[tuple[NodeRewriter | GraphRewriter, frozenset[str]]] = []

    def register(self, rewriter, *tags: str):
        """Add ``rewriter`` with ``tags`` (a phase name among them) and return it."""
        names = [getattr(r, "name", getattr(r, "__name__", None)) for r, _ in self.entries]
        name = getattr(rewriter, "name", getattr(rewriter, "__name__", None))
        if name in names:
            raise ValueError(f"a rewrite named {name!r} is already registered")
        if not any(tag in PHASES for tag in tags):
            raise ValueError(
                f"rewrite {name!r}: tags {tags} name no phase; expected one of {PHASES}"
            )
        self.entries.append((rewriter, frozenset(tags)))
        return rewriter

    def node_rewriters(self, tag: str) -> list[NodeRewriter]:
        return [r for r, tags in self.entries if tag in tags and isinstance(r, NodeRewriter)]

    def graph_rewriters(self, tag: str) -> list[GraphRewriter]:
        return [r for r, tags in self.entries if tag in tags and not isinstance(r, NodeRewriter)]

    def names(self, tag: str) -> list[str]:
        return [
            getattr(r, "name", getattr(r, "__name__", "?"))
            for r, tags in self.entries
            if tag in tags
        ]


rewrite_db = RewriteDatabase()
"""The default database: the standard rewrites register here when their modules are imported."""


def register(*tags: str, db: RewriteDatabase | None = None):
    """Decorator registering a NodeRewriter (or a graph rewriter function) with ``tags``."""

    def wrap(rewriter):
        return (db or rewrite_db).register(rewriter, *tags)

    return wrap


register_graph_rewriter = register


def run_phases(
    fgraph: FunctionGraph,
    phases: Sequence[str],
    report: RewriteReport,
    db: RewriteDatabase | None = None,
    verify: bool = False,
) -> None:
    """Run ``phases`` in order on ``fgraph``, appending one PhaseReport per phase.

    ``verify=True`` (tests) runs ``fgraph.check_integrity()`` after every phase.
    """
    db = db or rewrite_db
    for name in phases:
        phase = PhaseReport(name, nodes_before=len(fgraph))
        start = time.perf_counter()
        node_rewriters = db.node_rewriters(name)
        if node_rewriters:
            for companion in PHASE_COMPANIONS.get(name, ()):
                node_rewriters += db.node_rewriters(companion)
        if node_rewriters:
            EquilibriumRewriter(node_rewriters)(fgraph, phase)
        for rewriter in db.graph_rewriters(name):
            rewriter(fgraph, phase)
        if phase.fired and name != "merge":
            merge(fgraph, phase)
        phase.seconds = time.perf_counter() - start
        phase.nodes_after = len(fgraph)
        report.phases.append(phase)
        if verify:
            fgraph.check_integrity()

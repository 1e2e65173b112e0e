"""Graph rewriting: databases of named rewrites and the drivers that apply them."""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph.basic import Variable

__all__: list[str] = []


def optimize(inputs: Sequence[Variable], outputs: Sequence[Variable], mode: str):
    """Return ``(optimized_outputs, report)`` for ``outputs`` under ``mode``.

    No rewrite passes exist yet: every mode returns the graph as built and
    an empty report.
    """
    return list(outputs), "no rewrites applied"

"""Keras' ``ops.view``: a bitwise view of a tensor as another dtype (``graph/ops/bitcast.py``)."""

from __future__ import annotations

from theanine.frontend.ops.eager import eager
from theanine.graph.config import config
from theanine.graph.ops.bitcast import bitcast_view

__all__ = ["view"]


@eager
def view(x, dtype=None):
    """``x``'s bits read as ``dtype`` (default floatX); the last axis rescales when sizes differ."""
    return bitcast_view(x, dtype or config.floatX)

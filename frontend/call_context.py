"""The call context: what the layer calls nested inside one outermost call share.

Calls nest: a model calls its layers, a custom layer calls sublayers, a
custom ``train_step`` calls the model.  The outermost call opens a *call
context* that carries the ``training`` flag down to every nested call (so
a subclassed model need not pass it on by hand) and collects the state
updates and activity losses the nested calls add: a layer's
``add_update`` (BatchNormalization's moving statistics), a variable's
``assign`` inside a traced step, an optimizer's ``apply_gradients``.  The
context is a ``contextvars.ContextVar``, scoped and restored on exit like
``config.context``; it is how Keras 3 propagates ``training`` too.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field

from theanine.graph.basic import Variable
from theanine.graph.shared import SharedVariable

__all__ = ["CallContext", "call_context", "current_call_context", "pending_value"]


@dataclass
class CallContext:
    """What the calls nested inside one outermost layer call share.

    ``updates`` are ``(shared variable, new value)`` pairs in the order they
    were added; a compiled step writes them all at once after it ran, the
    last pair of a variable winning.  ``metric_statistics`` are ``(metric,
    statistics)`` pairs: the symbolic batch statistics of a built-in metric
    whose ``update_state`` was called inside a traced step; the step
    computes them and adds them to the metric's totals after it ran.
    """

    training: bool | None
    onnx_export: bool = False
    updates: list[tuple[SharedVariable, Variable]] = field(default_factory=list)
    losses: list[Variable] = field(default_factory=list)
    metric_statistics: list[tuple[object, list[Variable]]] = field(default_factory=list)

    def absorb(self, inner: CallContext) -> None:
        """Take over what a nested call's context collected."""
        self.updates.extend(inner.updates)
        self.losses.extend(inner.losses)
        self.metric_statistics.extend(inner.metric_statistics)


_CALL_CONTEXT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "theanine_call_context", default=None
)


@contextlib.contextmanager
def call_context(training: bool | None, onnx_export: bool = False) -> Iterator[CallContext]:
    """Open a fresh context (e.g. to trace a model's training graph) and yield it; ``onnx_export``
    traces the graph ``model.export`` writes (layers with a native ONNX form use it)."""
    context = CallContext(training, onnx_export)
    token = _CALL_CONTEXT.set(context)
    try:
        yield context
    finally:
        _CALL_CONTEXT.reset(token)


def current_call_context() -> CallContext | None:
    return _CALL_CONTEXT.get()


def pending_value(context: CallContext, shared: SharedVariable) -> Variable:
    """The value ``shared`` will hold after the updates ``context`` collected so far.

    ``v.assign_add(1)`` twice in one traced step must add 2: the second
    update builds on the first one's expression, not on the old value.
    """
    for target, value in reversed(context.updates):
        if target is shared:
            return value
    return shared

"""Keras-style metrics: state in variables, ``update_state`` and ``result`` written with ops.

A Keras 3 metric subclass creates its state with ``add_variable`` and
writes ``update_state(y_true, y_pred, sample_weight=None)`` with
``variable.assign_add(...)`` and ``result()`` with ops on the variables.
``Metric.__init_subclass__`` wraps those two methods (as Keras 2 wrapped
them in ``Metric.__new__``) with the functions below, so one subclass works
everywhere Keras runs it:

- inside a traced step (``compile(metrics=...)``, a custom ``train_step``)
  ``update_state`` runs symbolically: its assignments join the step's
  updates.  ``result()`` there reads the values the variables will hold
  after those updates, as Keras' sequential code would;
- on NumPy arrays, ``update_state`` compiles its updates once per argument
  types and applies them now; ``result()`` evaluates the expression on the
  current values (compiled once) and returns a float or an array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

import theanine as th
from theanine.frontend.call_context import call_context, current_call_context, pending_value
from theanine.graph.basic import Variable, clone_replace

__all__ = ["traced_update_state", "evaluated_result", "zero_variables"]


def _is_symbolic(values) -> bool:
    return any(isinstance(v, Variable) for v in values)


def traced_update_state(method: Callable) -> Callable:
    """``update_state`` that runs symbolically in a traced step and compiled on arrays."""

    @functools.wraps(method)
    def update_state(self, *args, **kwargs):
        values = [*args, *kwargs.values()]
        if current_call_context() is not None:
            return method(self, *args, **kwargs)
        if _is_symbolic(values):
            raise TypeError(
                f"metric {self.name}: update_state on symbolic tensors runs inside a traced step "
                "(compile(metrics=...) or a custom train_step); outside one pass NumPy arrays"
            )
        _run_eagerly(self, method, args, kwargs)
        return None

    return update_state


def _run_eagerly(metric, method: Callable, args: tuple, kwargs: dict) -> None:
    """Compile ``method``'s updates for the arguments' types once, then apply them."""
    names = [f"arg{i}" for i in range(len(args))] + sorted(kwargs)
    given = list(args) + [kwargs[k] for k in sorted(kwargs)]
    arrays = {name: np.asarray(v) for name, v in zip(names, given, strict=True) if v is not None}
    key = ("update_state", tuple(
        (name, arrays[name].dtype.name, arrays[name].shape[1:] if arrays[name].ndim else None)
        if name in arrays else (name, None) for name in names
    ))
    if key not in metric._compiled:
        placeholders = {
            name: th.tensor(name, a.dtype.name, (None, *a.shape[1:]) if a.ndim else ())
            for name, a in arrays.items()
        }
        symbolic = [placeholders.get(name) for name in names]
        with call_context(training=None) as context:
            method(metric, *symbolic[: len(args)], **dict(zip(sorted(kwargs), symbolic[len(args):],
                                                             strict=True)))
        last = {id(shared): (shared, th.cast(value, shared.dtype)) for shared, value in context.updates}
        metric._compiled[key] = th.function(
            list(placeholders.values()), [], updates=list(last.values()),
            name=f"{metric.name}_update_state", on_unused_input="ignore",
        )
    metric._compiled[key](*arrays.values())


def evaluated_result(method: Callable) -> Callable:
    """``result`` that is symbolic (after the step's updates) in a traced step, a value outside."""

    @functools.wraps(method)
    def result(self):
        context = current_call_context()
        key = ("result",)
        if context is None and key in self._compiled:
            return _host_value(self._compiled[key]())
        value = method(self)
        if not isinstance(value, Variable):
            return value
        if context is not None:
            replace = {v: pending_value(context, v) for v in self.variables}
            return clone_replace([value], {k: v for k, v in replace.items() if v is not k})[0]
        self._compiled[key] = th.function([], value, name=f"{self.name}_result")
        return _host_value(self._compiled[key]())

    return result


def _host_value(array) -> float | np.ndarray:
    array = np.asarray(array)
    return float(array) if array.ndim == 0 else array


def zero_variables(metric) -> None:
    """Keras' default ``reset_state``: every state variable back to zeros."""
    for variable in metric.variables:
        variable.set_value(np.zeros_like(variable.get_value(borrow=True)))

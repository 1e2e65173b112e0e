"""The metric contract (``keras.metrics.Metric``), in its two styles.

Built-in style: a metric splits Keras' ``update_state`` in two so that the
heavy part is compiled into the model's train/test functions --
``batch_statistics(y_true, y_pred, sample_weight=None)`` builds the
symbolic sufficient statistics of one batch (a weighted sum and a count,
confusion counts per threshold); ``update(values)`` adds the computed
statistics to host totals (float64) and ``result()`` turns the totals into
a float (an array for per-class results); ``reset_state()`` clears them
(the training loop calls it at the start of each epoch).
``update_state(y_true, y_pred, sample_weight)`` does both on NumPy arrays
for interactive use (it compiles a small function per input signature),
and inside a traced custom step records the statistics for the step.

Keras style: a subclass keeps its state in variables made by
``add_variable`` and writes ``update_state``/``result`` with ops
(``stateful_metrics.py`` runs them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import theanine as th
from theanine.frontend import initializers, stateful_metrics
from theanine.frontend.call_context import current_call_context
from theanine.frontend.variables import Variable as StateVariable
from theanine.frontend.variables import variable
from theanine.graph.basic import Variable

__all__ = ["Metric", "PendingResult", "divide_no_nan"]


class Metric:
    """Base class of metrics, in one of two styles.

    Built-in style: a subclass writes ``batch_statistics`` (a list of
    symbolic tensors) and ``result_from(totals)`` (a float from the summed
    NumPy totals).  ``compares_targets`` is False for standalone metrics
    (``Mean``) that average whatever values they are given and so cannot
    be compiled.

    Keras style: a subclass creates its state with ``add_variable`` and
    writes ``update_state`` with ``variable.assign_add`` and ``result``
    with ops on the variables (``stateful_metrics.py`` runs them eagerly
    or inside traced steps; ``reset_state`` zeroes the variables).
    """

    compares_targets = True

    def __init_subclass__(cls, **kwargs):
        """Wrap a Keras-style subclass's ``update_state`` and ``result`` (as Keras 2 did)."""
        super().__init_subclass__(**kwargs)
        if cls.batch_statistics is not Metric.batch_statistics:  # built-in style
            return
        if "update_state" in cls.__dict__:
            cls.update_state = stateful_metrics.traced_update_state(cls.__dict__["update_state"])
        if "result" in cls.__dict__:
            cls.result = stateful_metrics.evaluated_result(cls.__dict__["result"])

    def __init__(self, name: str | None = None, dtype: str | None = None):
        self.name = name or _snake_case(type(self).__name__)
        self.dtype = dtype or th.config.floatX
        self._totals: list[np.ndarray] | None = None
        self._compiled: dict[tuple, th.Function] = {}
        self._variables: list[StateVariable] = []

    @property
    def keeps_state_in_variables(self) -> bool:
        """True for a Keras-style metric (no ``batch_statistics``; state in variables)."""
        return type(self).batch_statistics is Metric.batch_statistics

    # -- Keras-style state

    def add_variable(
        self, shape, initializer, dtype=None, aggregation: str = "sum", name: str | None = None
    ) -> StateVariable:
        """A state variable of ``shape`` initialized by ``initializer`` (Keras 3's signature).

        ``aggregation`` is accepted for Keras compatibility (there is one replica).
        """
        dtype = dtype or self.dtype
        shape = tuple(int(d) for d in shape)
        value = np.asarray(initializers.get(initializer)(shape, dtype), dtype=dtype)
        name = name or f"variable_{len(self._variables)}"
        created = variable(value, name=f"{self.name}/{name}")
        self._variables.append(created)
        return created

    def add_weight(
        self, shape=(), initializer=None, dtype=None, name: str | None = None
    ) -> StateVariable:
        """Keras 3's other spelling of ``add_variable`` (initializer default: zeros)."""
        return self.add_variable(shape, initializer or "zeros", dtype, name=name)

    @property
    def variables(self) -> list[StateVariable]:
        """The state variables made by ``add_variable``, in creation order."""
        return list(self._variables)

    def batch_statistics(self, y_true, y_pred, sample_weight=None) -> list:
        raise NotImplementedError(f"{type(self).__name__} must implement batch_statistics()")

    def result_from(self, totals: list[np.ndarray]) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement result_from()")

    def update(self, values: Sequence[np.ndarray]) -> None:
        """Add one batch's computed statistics to the totals."""
        values = [np.asarray(v, dtype=np.float64) for v in values]
        if self._totals is None:
            self._totals = values
            return
        if len(values) != len(self._totals):
            raise ValueError(
                f"metric {self.name} expects {len(self._totals)} statistics, received {len(values)}"
            )
        self._totals = [total + value for total, value in zip(self._totals, values, strict=True)]

    def result(self):
        """The metric over every batch since the last reset (0.0 before any batch).

        A float, or an array for metrics with one value per class (``F1Score()``).
        Inside a traced step, a ``PendingResult``: the value once the step ran.
        """
        if current_call_context() is not None:
            return PendingResult(self)
        if self._totals is None:
            return 0.0
        value = np.asarray(self.result_from(self._totals), dtype=np.float64)
        return float(value) if value.ndim == 0 else value

    def reset_state(self) -> None:
        """Clear the totals and zero the state variables (Keras' default)."""
        self._totals = None
        stateful_metrics.zero_variables(self)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add one batch: from NumPy arrays now (compiled once per dtype and sample shape), or,
        on symbolic tensors inside a traced step, when the step has run."""
        given = [a for a in (y_true, y_pred, sample_weight) if a is not None]
        if any(isinstance(a, Variable) for a in given):
            self._record_statistics(given)
            return
        arrays = [np.asarray(a) for a in given]
        key = tuple((a.dtype.name, a.shape[1:]) for a in arrays)
        if key not in self._compiled:
            inputs = [th.tensor(dtype=a.dtype.name, shape=(None, *a.shape[1:])) for a in arrays]
            statistics = self.batch_statistics(*inputs)
            self._compiled[key] = th.function(inputs, statistics)
        self.update(self._compiled[key](*arrays))

    def _record_statistics(self, given: list) -> None:
        """Inside a traced step: the step computes the batch statistics and adds them after."""
        context = current_call_context()
        if context is None:
            raise TypeError(
                f"metric {self.name}: update_state on symbolic tensors runs inside a traced step "
                "(a custom train_step); outside one pass NumPy arrays"
            )
        context.metric_statistics.append((self, list(self.batch_statistics(*given))))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)


@dataclass(frozen=True)
class PendingResult:
    """A built-in metric's ``result()`` inside a traced step: read once the step has run and
    added its batch statistics to the metric's totals."""

    metric: Metric

    def value(self):
        return self.metric.result()


def _snake_case(name: str) -> str:
    """Keras' default metric names: ``MeanSquaredError`` -> ``mean_squared_error``."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def divide_no_nan(numerator, denominator):
    """``numerator / denominator`` with 0 where the denominator is 0 (Keras' divide_no_nan)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)

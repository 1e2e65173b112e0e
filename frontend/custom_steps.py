"""Custom steps: a model that overrides ``train_step(data)`` or ``test_step(data)``, as in Keras 3.

``fit`` calls ``train_step`` for every batch and ``evaluate`` calls
``test_step``.  theanine's override is written symbolically and compiled
into the step: the first batch of each type signature traces the method
once on placeholders, inside a call context (``training=True`` for
``train_step``) that collects what the method asks for --

- ``optimizer.apply_gradients(zip(grads, weights))`` / ``optimizer.apply``
  and ``variable.assign``: updates of the compiled step;
- the layers' state updates (moving statistics);
- ``metric.update_state(...)``: Keras-style metrics as updates of their
  variables, built-in ones as batch statistics the step returns and adds to
  the metric's totals after it ran --

and compiles one ``th.function`` whose outputs are the symbolic values of
the returned dict.  A value of the dict may be a tensor, a number, a
metric's ``result()`` or a nested dict (flattened, as Keras flattens
``compile_metrics``).  The logs of an epoch are those of its last batch.

``data`` is packed as Keras' ``pack_x_y_sample_weight`` does: ``x`` alone
(``(x,)`` for a list of inputs) without targets, else ``(x, y)`` or ``(x,
y, sample_weight)``; ``x`` is one tensor or a list (several inputs), ``y``
as given (one tensor, a list, or a dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

import theanine as th
from theanine.frontend import data_adapter as adapter
from theanine.frontend.call_context import call_context
from theanine.frontend.metrics import PendingResult
from theanine.graph.basic import Variable

__all__ = ["prepare", "CustomSteps", "pack_x_y_sample_weight"]

_MODES = {"train": "train_step", "test": "test_step"}


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Keras' packing of one batch for ``train_step``/``test_step``."""
    if y is None and sample_weight is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def prepare(model, x, y, sample_weight) -> adapter.Data:
    """A custom step's batch data: inputs as the model takes them, targets and weights as given.

    Float targets become ``floatX`` and integer ones int64 (so one compiled
    step serves every batch); ``y_structure`` records how ``y`` came.
    """
    xs = adapter.standardize_x(model, x)
    if isinstance(y, Mapping):
        keys = sorted(y)
        ys, structure = [np.asarray(y[k]) for k in keys], tuple(keys)
    elif isinstance(y, (list, tuple)):
        ys, structure = [np.asarray(a) for a in y], "list"
    else:
        ys, structure = ([], None) if y is None else ([np.asarray(y)], "single")
    ys = [a.astype(adapter.placeholder_dtype(a), copy=False) for a in ys]
    sws = [] if sample_weight is None else [np.asarray(sample_weight, th.config.floatX)]
    n = adapter.common_length(xs + ys + sws, model.name)
    return adapter.Data(xs, ys, sws, n, y_structure=structure)


@dataclass
class _Traced:
    """One compiled custom step: the function and how to read its outputs back into logs."""

    function: th.Function
    keys: list[str]
    sources: list  # per key: ("output", index) | ("pending", metric) | ("value", value)
    statistics: list[tuple[object, int, int]]  # (metric, first output, count)


class CustomSteps:
    """Runs ``model``'s overridden ``train_step``/``test_step`` batch by batch (see module doc).

    Compiled steps are kept on the model by signature, so every epoch reuses
    them.  Creating the runner resets the model's metrics, as Keras does at
    the start of each epoch and of ``evaluate``.
    """

    def __init__(self, model, mode: str, reset: bool = True):
        self.model, self.mode = model, mode
        self._logs: dict = {}
        if reset:
            model.reset_metrics()

    def run(self, data: adapter.Data) -> None:
        traced = self._traced(data)
        values = traced.function(*data.arrays())
        for metric, first, count in traced.statistics:
            metric.update(values[first : first + count])
        self._logs = {key: _log_value(source, values) for key, source in
                      zip(traced.keys, traced.sources, strict=True)}

    def logs(self) -> dict:
        """The logs the last batch's step returned."""
        return dict(self._logs)

    def _traced(self, data: adapter.Data) -> _Traced:
        signature = (
            self.mode,
            tuple((a.dtype.name, a.shape[1:]) for a in data.arrays()),
            len(data.xs),
            len(data.sws),
            data.y_structure,
        )
        cache = self.model._custom_steps
        if signature not in cache:
            cache[signature] = _trace(self.model, self.mode, data)
        return cache[signature]


def _trace(model, mode: str, data: adapter.Data) -> _Traced:
    xs = [th.tensor(f"x{i}", a.dtype.name, (None, *a.shape[1:])) for i, a in enumerate(data.xs)]
    ys = [th.tensor(f"y{i}", a.dtype.name, (None, *a.shape[1:])) for i, a in enumerate(data.ys)]
    sws = [th.tensor("sample_weight", a.dtype.name, (None, *a.shape[1:])) for a in data.sws]
    x = list(xs) if len(xs) > 1 or getattr(model, "_build_as_list", False) else xs[0]
    structure = data.y_structure
    y = None if structure is None else (
        ys[0] if structure == "single" else list(ys) if structure == "list" else
        dict(zip(structure, ys, strict=True))
    )
    packed = pack_x_y_sample_weight(x, y, sws[0] if sws else None)
    with call_context(training=mode == "train") as context:
        returned = getattr(model, _MODES[mode])(packed)
    if not isinstance(returned, Mapping):
        raise TypeError(
            f"{model.name}.{_MODES[mode]} must return a dict of logs ({{'loss': loss, ...}}). "
            f"Received: {type(returned).__name__}"
        )
    keys, sources, outputs = [], [], []
    for key, value in _flat_logs(returned):
        keys.append(key)
        if isinstance(value, Variable):
            sources.append(("output", len(outputs)))
            outputs.append(value)
        elif isinstance(value, PendingResult):
            sources.append(("pending", value))
        else:
            sources.append(("value", value))
    statistics = []
    for metric, stats in context.metric_statistics:
        statistics.append((metric, len(outputs), len(stats)))
        outputs += stats
    last = {id(s): (s, th.cast(v, s.dtype)) for s, v in context.updates}
    function = th.function(
        xs + ys + sws, outputs, updates=list(last.values()), name=f"{model.name}_{_MODES[mode]}",
        on_unused_input="ignore",  # a step may ignore the targets or the sample weights
    )
    return _Traced(function, keys, sources, statistics)


def _flat_logs(logs: Mapping):
    """``(key, value)`` pairs; a nested dict's entries come up by their own keys (Keras)."""
    for key, value in logs.items():
        if isinstance(value, Mapping):
            yield from _flat_logs(value)
        else:
            yield str(key), value


def _log_value(source, values: list):
    kind, what = source
    if kind == "output":
        value = np.asarray(values[what])
    elif kind == "pending":
        value = np.asarray(what.value())
    else:
        value = np.asarray(what)
    return float(value) if value.ndim == 0 else value

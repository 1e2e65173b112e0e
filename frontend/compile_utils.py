"""What ``compile()`` attaches to each model output: its loss, loss weight and metrics.

``compile`` may give ``loss``, ``loss_weights``, ``metrics`` and
``weighted_metrics`` once for every output, as a list (one entry per
output) or as a dict by output name, as in Keras.  The outputs (their
names and static shapes) are known only once the model is built, so
``compile`` records a ``CompileConfig`` and ``resolve`` turns it into
``CompiledOutputs`` when the first step function is traced: one
``OutputSpec`` per output with its loss, and one ``MetricSlot`` per
metric with the output it watches, whether it is weighted and its name
in the logs.

Keras 3 semantics: only ``weighted_metrics`` see the sample weights (and
the class weights, which become sample weights); ``metrics`` are plain
averages over the samples.  Logs list the plain metrics of every output,
then the weighted ones; a metric is named by its own name, prefixed with
the output's name when the model has several outputs; a plain name that
is taken again gets ``_1``, ``_2``, ... and a weighted metric whose name a
plain metric already took is named ``weighted_<name>``
(``keras.src.trainers.compile_utils.CompileMetrics.result``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from theanine.frontend import losses as losses_module
from theanine.frontend import metrics as metrics_module

__all__ = ["CompileConfig", "OutputSpec", "MetricSlot", "CompiledOutputs", "resolve"]


@dataclass(frozen=True)
class CompileConfig:
    """The user's compile() arguments, as given (identifiers, objects, lists or dicts)."""

    loss: Any
    loss_weights: Any = None
    metrics: Any = None
    weighted_metrics: Any = None


@dataclass
class OutputSpec:
    """The loss and loss weight of one model output."""

    name: str
    loss: Any = None
    loss_weight: float = 1.0


@dataclass
class MetricSlot:
    """One metric of one output: whether sample weights apply, and its name in the logs."""

    metric: Any
    output: int
    weighted: bool
    name: str


@dataclass
class CompiledOutputs:
    """Every output's spec, in output order, and the metrics in log order."""

    outputs: list[OutputSpec]
    metrics: list[MetricSlot]

    @property
    def with_loss(self) -> list[int]:
        """Indices of the outputs that have a loss (and so a target)."""
        return [i for i, spec in enumerate(self.outputs) if spec.loss is not None]

    def loss_keys(self) -> list[str]:
        """``"loss"``, then each output's loss when there are several outputs."""
        keys = ["loss"]
        if len(self.outputs) > 1:
            keys += [f"{self.outputs[i].name}_loss" for i in self.with_loss]
        return keys

    def log_keys(self) -> list[str]:
        """``["loss", <per-output losses>, <metrics>]``: the order of evaluate's list."""
        return self.loss_keys() + [slot.name for slot in self.metrics]


def resolve(config: CompileConfig, names: list[str], shapes: Sequence) -> CompiledOutputs:
    """Spread ``config`` over the outputs ``names`` (of static ``shapes``) and make the objects."""
    losses = per_output(config.loss, names, "loss", single_value=_is_single(config.loss))
    weights = per_output(
        config.loss_weights, names, "loss_weights", single_value=_is_single(config.loss_weights)
    )
    outputs = [
        OutputSpec(name, None if loss is None else losses_module.get(loss), _weight(weight))
        for name, loss, weight in zip(names, losses, weights, strict=True)
    ]
    slots: list[MetricSlot] = []
    counters: dict[str, int] = {}
    for weighted, argument in ((False, "metrics"), (True, "weighted_metrics")):
        identifiers = getattr(config, argument)
        for i, ids in enumerate(_metric_lists(identifiers, outputs, argument)):
            for identifier in ids:
                metric = metrics_module.get(
                    identifier, loss=outputs[i].loss, output_shape=shapes[i]
                )
                if not metric.compares_targets:
                    raise TypeError(
                        f"compile({argument}=...): {type(metric).__name__} averages the values "
                        "given to its update_state, not targets and predictions; use a metric "
                        "of (y_true, y_pred) such as MeanMetricWrapper(fn)"
                    )
                metric = _own_metric(metric, slots)
                prefix = f"{names[i]}_" if len(names) > 1 else ""
                name = _log_name(prefix, metric.name, weighted, counters)
                slots.append(MetricSlot(metric, i, weighted, name))
    return CompiledOutputs(outputs, slots)


def _weight(weight) -> float:
    return 1.0 if weight is None else float(weight)


def _metric_lists(identifiers, outputs: list[OutputSpec], argument: str) -> list[list]:
    """The metric identifiers of each output.

    Metrics given once for every output skip the outputs without a loss
    (they have no targets); metrics given to such an output by name or
    position are an error.
    """
    names = [spec.name for spec in outputs]
    single = _flat_metric_list(identifiers)
    lists = [_as_list(ids) for ids in per_output(identifiers, names, argument, single)]
    for spec, ids in zip(outputs, lists, strict=True):
        if ids and spec.loss is None and not single:
            raise ValueError(
                f"compile({argument}=...) gives metrics to output {spec.name!r}, which has no "
                "loss and so no targets to compare with"
            )
    return [ids if spec.loss is not None else [] for spec, ids in zip(outputs, lists, strict=True)]


def _log_name(prefix: str, name: str, weighted: bool, counters: dict[str, int]) -> str:
    """Keras' unique log name of a metric (see the module docstring)."""
    full = prefix + name
    if full in counters and weighted:
        full = f"{prefix}weighted_{name}"
    if full not in counters:
        counters[full] = 1
        return full
    counters[full] += 1
    return f"{full}_{counters[full] - 1}"


def _own_metric(metric, slots: list[MetricSlot]):
    """``metric``, or a fresh copy when an earlier slot already holds this very object."""
    if any(metric is slot.metric for slot in slots):
        return type(metric).from_config(metric.get_config())
    return metric


def _as_list(identifiers) -> list:
    if identifiers is None:
        return []
    items = identifiers if isinstance(identifiers, (list, tuple)) else [identifiers]
    return [m for m in items if m is not None]


def _is_single(value) -> bool:
    return not isinstance(value, (list, tuple, Mapping))


def _flat_metric_list(metrics) -> bool:
    """True when ``metrics`` applies to every output (None, or a flat list of metric ids)."""
    if metrics is None or isinstance(metrics, Mapping):
        return metrics is None
    if not isinstance(metrics, (list, tuple)):
        return True
    nested = any(isinstance(m, (list, tuple)) for m in metrics)
    return not nested and not any(m is None for m in metrics)


def per_output(value, names: list[str], what: str, single_value: bool) -> list:
    """Spread a compile() argument over the outputs: one value, a list, or a dict by name."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"compile({what}=...) names unknown output(s) {unknown}; outputs are {names}"
            )
        return [value.get(n) for n in names]
    if single_value:
        return [value] * len(names)
    if len(value) != len(names):
        raise ValueError(
            f"compile({what}=...) has {len(value)} entries but the model has {len(names)} "
            f"outputs {names}"
        )
    return list(value)

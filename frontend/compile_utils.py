"""What ``compile()`` attaches to each model output: its loss, loss weight and metrics.

``compile`` may give ``loss``, ``metrics`` and ``loss_weights`` once for
every output, as a list (one entry per output) or as a dict by output name,
as in Keras.  The outputs (their names and static shapes) are known only
once the model is built, so ``compile`` records a ``CompileConfig`` and
``resolve`` turns it into ``CompiledOutputs`` when the first step function
is traced: one ``OutputSpec`` per output with its loss and metric objects,
and the names under which the metrics appear in the logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from theanine.frontend import losses as losses_module
from theanine.frontend import metrics as metrics_module

__all__ = ["CompileConfig", "OutputSpec", "CompiledOutputs", "resolve"]


@dataclass(frozen=True)
class CompileConfig:
    """The user's compile() arguments, as given (identifiers, objects, lists or dicts)."""

    loss: Any
    metrics: Any = None
    loss_weights: Any = None


@dataclass
class OutputSpec:
    """The loss, loss weight and metrics of one model output."""

    name: str
    loss: Any = None
    loss_weight: float = 1.0
    metrics: list = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)


@dataclass
class CompiledOutputs:
    """Every output's spec, in output order."""

    outputs: list[OutputSpec]

    @property
    def with_loss(self) -> list[int]:
        """Indices of the outputs that have a loss (and so a target)."""
        return [i for i, spec in enumerate(self.outputs) if spec.loss is not None]

    def all_metrics(self) -> list:
        """Every metric object, in log order."""
        return [m for spec in self.outputs for m in spec.metrics]

    def log_keys(self) -> list[str]:
        """``["loss", <per-output losses>, <metrics>]``: the order of evaluate's list."""
        keys = ["loss"]
        if len(self.outputs) > 1:
            keys += [f"{self.outputs[i].name}_loss" for i in self.with_loss]
        for spec in self.outputs:
            keys += spec.metric_names
        return keys


def resolve(config: CompileConfig, names: list[str], shapes: Sequence) -> CompiledOutputs:
    """Spread ``config`` over the outputs ``names`` (of static ``shapes``) and make the objects."""
    losses = per_output(config.loss, names, "loss", single_value=_is_single(config.loss))
    weights = per_output(
        config.loss_weights, names, "loss_weights", single_value=_is_single(config.loss_weights)
    )
    metric_lists = per_output(
        config.metrics, names, "metrics", single_value=_flat_metric_list(config.metrics)
    )
    specs: list[OutputSpec] = []
    for name, shape, loss_id, weight, metric_ids in zip(
        names, shapes, losses, weights, metric_lists, strict=True
    ):
        specs.append(_output_spec(name, shape, loss_id, weight, metric_ids, len(names) > 1, specs))
    return CompiledOutputs(specs)


def _output_spec(
    name, shape, loss_id, weight, metric_ids, prefix: bool, earlier: list[OutputSpec]
) -> OutputSpec:
    """Loss and metrics of one output (a metric object given for several outputs is copied)."""
    loss = None if loss_id is None else losses_module.get(loss_id)
    metric_objs = [
        _own_metric(metrics_module.get(identifier, loss=loss, output_shape=shape), earlier)
        for identifier in _as_list(metric_ids)
    ]
    metric_names = [f"{name}_{m.name}" if prefix else m.name for m in metric_objs]
    return OutputSpec(
        name, loss, 1.0 if weight is None else float(weight), metric_objs, metric_names
    )


def _own_metric(metric, earlier: list[OutputSpec]):
    """``metric``, or a fresh copy when an earlier output already holds this very object."""
    if any(metric is m for spec in earlier for m in spec.metrics):
        return type(metric).from_config(metric.get_config())
    return metric


def _as_list(identifiers) -> list:
    if identifiers is None:
        return []
    return list(identifiers) if isinstance(identifiers, (list, tuple)) else [identifiers]


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

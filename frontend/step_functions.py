"""The compiled train, test and predict functions of a model, each built once.

- train: inputs x, y, sample weights -> [total loss, per-output losses,
  metric statistics], with the optimizer's updates, the layers' state
  updates (moving statistics) and the weight constraints applied to the
  updated weights;
- test: the same outputs, no updates, ``training=False``;
- predict: the model outputs, ``training=False``.

Every placeholder has a None batch dimension, so the last, smaller batch
reuses the compiled function.  Target placeholders take the rank and
dtype of the first targets seen (``set_target_specs``); other targets
retrace the train and test functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import theanine as th
from theanine.frontend.compile_utils import CompiledOutputs
from theanine.frontend.layers.base import call_context

__all__ = ["StepFunctions", "StepLayout", "random_states", "random_streams"]


@dataclass
class StepLayout:
    """How the values a train or test function returns are laid out.

    ``n_losses`` values (the total loss, then each output's loss when there
    are several outputs), then ``stat_counts[k]`` statistics for the k-th
    slot of ``CompiledOutputs.metrics``.
    """

    n_losses: int
    stat_counts: list[int]
    global_count: bool = False
    """True when a last value follows: the global batch size (data-parallel steps)."""


class StepFunctions:
    """Traces and compiles ``model``'s step functions on first use and keeps them.

    ``compiled`` is None for a model that is not compiled: it can only predict.
    """

    def __init__(self, model, compiled: CompiledOutputs | None):
        self.model, self.compiled = model, compiled
        self.target_specs: list[tuple[int, str]] | None = None
        self.weight_ranks: list[int] | None = None
        self.layout: StepLayout | None = None
        self._functions: dict[str, Any] = {}

    def set_target_specs(self, specs: list[tuple[int, str]]) -> None:
        """Record the targets' ``(rank, dtype)``; a change drops the traced train/test functions."""
        if self.target_specs != specs:
            if self.target_specs is not None:
                self._functions.pop("train", None)
                self._functions.pop("test", None)
            self.target_specs = specs

    def set_weight_ranks(self, ranks: list[int]) -> None:
        """Record the sample weights' ranks (1 per sample, 2 per time step); a change drops the
        traced train/test functions."""
        if self.weight_ranks != ranks:
            if self.weight_ranks is not None:
                self._functions.pop("train", None)
                self._functions.pop("test", None)
            self.weight_ranks = ranks

    def train(self):
        """The train function (traced with ``training=True``, updates applied)."""
        if "train" not in self._functions:
            model = self.model
            inputs, total, output_losses, stats, context, metric_updates = self._loss_graph(
                training=True
            )
            params = model.trainable_weights
            # the optimizer's scale_loss: a LossScaleOptimizer takes gradients of the scaled loss
            grads = th.grad(model.optimizer.scale_loss(total), params, disconnected_inputs="ignore")
            strategy = getattr(model, "_strategy", None)
            if strategy is not None:
                grads = strategy.reduce_gradients(grads, th.shape(inputs[0])[0])
            updates = _constrained(
                model.optimizer.get_updates(params, grads), model.weight_constraints()
            )
            taken = {id(s) for s, _ in updates}
            layer_states = _state_updates(context.updates, taken)
            if strategy is not None:
                layer_states = strategy.average_states(layer_states)
            updates += layer_states
            updates += self._metric_updates(metric_updates, taken | {id(s) for s, _ in layer_states})
            self._functions["train"] = th.function(
                inputs, self._outputs(inputs, total, output_losses, stats), updates=updates,
                name=f"{model.name}_train",
            )
        return self._functions["train"]

    def test(self):
        """The test function: the train function's outputs, ``training=False``; only the updates
        a layer makes in inference too (a stateful RNN's states) and the metrics' are applied."""
        if "test" not in self._functions:
            inputs, total, output_losses, stats, context, metric_updates = self._loss_graph(training=False)
            self._functions["test"] = th.function(
                inputs,
                self._outputs(inputs, total, output_losses, stats),
                updates=_state_updates(context.updates, set()) + self._metric_updates(metric_updates, set()),
                name=f"{self.model.name}_test",
            )
        return self._functions["test"]

    def predict(self):
        """The predict function: the model outputs for the inputs, ``training=False`` (with the
        updates a layer makes in inference, such as a stateful RNN's states)."""
        if "predict" not in self._functions:
            xs = self._placeholders()
            preds, context = self._symbolic_outputs(xs, training=False)
            self._functions["predict"] = th.function(
                xs, preds, updates=_state_updates(context.updates, set()), name=f"{self.model.name}_predict",
                on_unused_input="ignore",  # an input may feed only a loss (Keras' endpoint layers)
            )
        return self._functions["predict"]

    def _metric_updates(self, pairs, taken: set[int]) -> list:
        """The updates of Keras-style metrics (state in variables); under a data-parallel strategy
        each variable's increment is summed over the ranks (their states are sums)."""
        updates = _state_updates(pairs, taken)
        strategy = getattr(self.model, "_strategy", None)
        return updates if strategy is None else strategy.sum_increments(updates)

    def _outputs(self, inputs: list, total, output_losses: list, stats: list) -> list:
        """The step's outputs; under a data-parallel strategy, summed over the ranks and followed
        by the global batch size (``StepLayout.global_count``)."""
        strategy = getattr(self.model, "_strategy", None)
        if strategy is None:
            return [total, *output_losses, *stats]
        losses, stats, count = strategy.reduce_outputs(
            [total, *output_losses], stats, th.shape(inputs[0])[0]
        )
        self.layout.global_count = True
        return [*losses, *stats, count]

    # -- tracing ----------------------------------------------------------------------------------

    def _placeholders(self) -> list:
        return [
            th.tensor(f"x{i}", dtype, (None, *shape[1:]))
            for i, (shape, dtype) in enumerate(self.model.input_specs())
        ]

    def onnx_graph(self) -> tuple[list, list]:
        """Placeholders and outputs of the graph ``model.export`` writes (inference, ONNX forms)."""
        xs = self._placeholders()
        outputs, _ = self._symbolic_outputs(xs, training=False, onnx_export=True)
        return xs, outputs

    def _symbolic_outputs(self, xs: list, training: bool, onnx_export: bool = False):
        """The model's outputs on ``xs`` as a flat list, and the call context (updates, losses)."""
        model = self.model
        as_list = getattr(model, "_build_as_list", len(xs) > 1)
        with call_context(training=training, onnx_export=onnx_export) as context:
            outputs = model(xs if as_list else xs[0])
        if isinstance(outputs, Mapping):
            outputs = [outputs[k] for k in model._output_name_list()]
        flat = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return flat, context

    def _loss_graph(self, training: bool):
        """Symbolic inputs, total loss, per-output losses (if several), statistics, call context,
        and the updates of Keras-style metrics (state in variables)."""
        compiled, model = self.compiled, self.model
        xs = self._placeholders()
        preds, context = self._symbolic_outputs(xs, training)
        if len(preds) != len(compiled.outputs):
            raise ValueError(
                f"{model.name} returned {len(preds)} outputs, compile() configured "
                f"{len(compiled.outputs)}"
            )
        ys, sws, output_losses = {}, {}, []
        ranks = dict(zip(compiled.with_loss, self.weight_ranks or [], strict=False))
        for i in compiled.with_loss:
            ndim, dtype = self.target_specs[i]
            ys[i] = th.tensor(f"y{i}", dtype, (None,) * ndim)
            sws[i] = th.tensor(f"sample_weight{i}", th.config.floatX, (None,) * ranks.get(i, 1))
            loss = compiled.outputs[i].loss(ys[i], preds[i], sample_weight=sws[i])
            output_losses.append(th.cast(loss, th.config.floatX))
        stats, stat_counts = [], []
        with call_context(training=training) as metric_context:
            for slot in compiled.metrics:
                weight = sws[slot.output] if slot.weighted else None
                if slot.metric.keeps_state_in_variables:
                    slot.metric.update_state(ys[slot.output], preds[slot.output], weight)
                    stat_counts.append(0)
                    continue
                metric_stats = list(
                    slot.metric.batch_statistics(ys[slot.output], preds[slot.output], weight)
                )
                stat_counts.append(len(metric_stats))
                stats += metric_stats
        total = sum(
            (
                compiled.outputs[i].loss_weight * loss
                for i, loss in zip(compiled.with_loss, output_losses, strict=True)
            ),
            start=th.constant(np.asarray(0, th.config.floatX)),
        )
        penalties = model.weight_regularization_losses() + list(context.losses)
        if not compiled.with_loss and not penalties:
            raise ValueError(
                f"{model.name}.compile needs a loss (e.g. loss='mse') unless its layers call add_loss "
                "or it overrides train_step; it has none. Received: loss=None"
            )
        for penalty in penalties:
            total = total + th.cast(penalty, th.config.floatX)
        extra = output_losses if len(compiled.outputs) > 1 else []
        self.layout = StepLayout(1 + len(extra), stat_counts)
        inputs = xs + list(ys.values()) + list(sws.values())
        return inputs, total, extra, stats, context, metric_context.updates


def random_streams(model) -> list:
    """Every random stream the model's layers own (Dropout's, ...), in layer order."""
    streams = []
    pending = list(model._sublayers())
    while pending:
        layer = pending.pop(0)
        stream = getattr(layer, "stream", None)
        if isinstance(stream, th.random.RandomStream):
            streams.append(stream)
        pending[0:0] = layer._sublayers()
    return streams


def random_states(model) -> list:
    """The state variables of every random stream the model's layers own, in layer order."""
    return [state for stream in random_streams(model) for state in stream.states]


def _constrained(updates, constraints: dict[int, Any]) -> list:
    """Apply each weight's constraint to its updated value."""
    return [(p, constraints[id(p)](new) if id(p) in constraints else new) for p, new in updates]


def _state_updates(pairs, taken: set[int]) -> list:
    """Layer state updates, one per shared variable (the last wins), skipping optimizer targets."""
    last: dict[int, tuple] = {}
    for shared, expression in pairs:
        if id(shared) not in taken:
            last[id(shared)] = (shared, th.cast(expression, shared.dtype))
    return list(last.values())

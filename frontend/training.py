"""compile / fit / evaluate / predict: the training loops of a model.

The three step functions are compiled ONCE each through ``th.function``:

- train: inputs x, y, sample weights -> [total loss, per-output losses,
  metric statistics], with the optimizer's updates, the layers' state
  updates (moving statistics) and the weight constraints applied to the
  updated weights;
- test: the same outputs, no updates, ``training=False``;
- predict: the model outputs, ``training=False``.

Every placeholder has a None batch dimension, so the last, smaller batch
reuses the compiled function.  Targets are placeholders whose rank and
dtype come from the first batch seen (integer labels stay int64, other
targets become ``floatX``).  Losses and metrics average on the host:
the loss over the batches weighted by batch size, each metric through its
own sufficient statistics (``metric.update``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import theanine as th
from theanine.frontend import callbacks as callbacks_module
from theanine.frontend import losses as losses_module
from theanine.frontend import metrics as metrics_module
from theanine.frontend import optimizers, seeding
from theanine.frontend.layers.base import call_context, describe_shape

__all__ = ["Trainer"]


@dataclass
class _OutputSpec:
    """What compile() attached to one model output."""

    name: str
    loss: Any = None
    loss_weight: float = 1.0
    metrics: list = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)


@dataclass
class _Data:
    """Model inputs, targets (of the outputs with a loss) and their sample weights: ``n`` samples each."""

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    sws: list[np.ndarray]
    n: int

    def take(self, index) -> _Data:
        """The samples at ``index`` (a slice or an index array) of every array."""
        xs = [a[index] for a in self.xs]
        return _Data(xs, [a[index] for a in self.ys], [a[index] for a in self.sws], len(xs[0]) if xs else 0)

    def arrays(self) -> list[np.ndarray]:
        """The arguments of a compiled train or test function, in order."""
        return [*self.xs, *self.ys, *self.sws]


@dataclass
class _Compiled:
    """The resolved compile() arguments for a model with known outputs."""

    outputs: list[_OutputSpec]
    stat_counts: dict[int, int] = field(default_factory=dict)

    @property
    def with_loss(self) -> list[int]:
        return [i for i, spec in enumerate(self.outputs) if spec.loss is not None]

    def all_metrics(self) -> list:
        return [m for spec in self.outputs for m in spec.metrics]


class Trainer:
    """compile/fit/evaluate/predict for models (mixed into ``Model``)."""

    def _init_trainer(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compile_args: dict | None = None
        self._resolved: _Compiled | None = None
        self._functions: dict[str, Any] = {}
        self._target_specs: list[tuple[int, str]] | None = None
        self._pending_state: dict[str, list[np.ndarray]] = {}

    # -- compile ----------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None) -> None:
        """Choose the optimizer, the loss(es) and the metrics.

        ``loss``, ``metrics`` and ``loss_weights`` may be given once for all
        outputs, as a list (one per output) or as a dict by output name.
        """
        if loss is None:
            raise ValueError(
                f"{self.name}.compile needs a loss (e.g. loss='mse'). Received: loss=None"
            )
        self.optimizer = optimizers.get(optimizer)
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights}
        self._resolved = None
        self._functions = {}
        self._target_specs = None
        self.compiled = True

    def _resolve_compile(self) -> _Compiled:
        """Attach losses, weights and metric objects to the (now known) outputs."""
        if self._resolved is None:
            names = self._output_name_list()
            args = self._compile_args
            losses = _per_output(args["loss"], names, "loss", single_value=_is_single(args["loss"]))
            weights = _per_output(
                args["loss_weights"],
                names,
                "loss_weights",
                single_value=not isinstance(args["loss_weights"], (list, tuple, Mapping)),
            )
            metric_lists = _per_output(
                args["metrics"],
                names,
                "metrics",
                single_value=_flat_metric_list(args["metrics"], len(names)),
            )
            shapes = self._output_shapes(len(names))
            specs = []
            for name, shape, loss_id, weight, metric_ids in zip(
                names, shapes, losses, weights, metric_lists, strict=False
            ):
                specs.append(
                    self._output_spec(
                        name, shape, loss_id, weight, metric_ids, len(names) > 1, specs
                    )
                )
            self._resolved = _Compiled(specs)
        return self._resolved

    def _output_spec(
        self, name, shape, loss_id, weight, metric_ids, prefix: bool, earlier: list[_OutputSpec]
    ) -> _OutputSpec:
        """Loss and metrics of one output (a metric object given for several outputs is copied)."""
        loss = None if loss_id is None else losses_module.get(loss_id)
        metric_ids = (
            []
            if metric_ids is None
            else list(metric_ids)
            if isinstance(metric_ids, (list, tuple))
            else [metric_ids]
        )
        metric_objs = []
        for identifier in metric_ids:
            metric = metrics_module.get(identifier, loss=loss, output_shape=shape)
            if any(metric is m for spec in earlier for m in spec.metrics):
                metric = type(metric).from_config(metric.get_config())
            metric_objs.append(metric)
        metric_names = [f"{name}_{m.name}" if prefix else m.name for m in metric_objs]
        return _OutputSpec(
            name, loss, 1.0 if weight is None else float(weight), metric_objs, metric_names
        )

    def _output_shapes(self, count: int) -> list:
        outputs = getattr(self, "outputs", None)
        return [t.type.shape for t in outputs] if outputs else [None] * count

    def _output_name_list(self) -> list[str]:
        outputs = getattr(self, "outputs", None)
        if outputs:
            return list(self.output_names)
        return [f"output_{i}" for i in range(getattr(self, "_n_outputs", 1))]

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", <per-output losses>, <metrics>]``: the order of ``evaluate``'s list."""
        return list(self._log_keys())

    def _log_keys(self) -> list[str]:
        resolved = self._resolve_compile()
        keys = ["loss"]
        if len(resolved.outputs) > 1:
            keys += [f"{resolved.outputs[i].name}_loss" for i in resolved.with_loss]
        for spec in resolved.outputs:
            keys += spec.metric_names
        return keys

    # -- compiled step functions ------------------------------------------------------------------

    def _placeholders(self) -> list:
        return [
            th.tensor(f"x{i}", dtype, (None, *shape[1:]))
            for i, (shape, dtype) in enumerate(self.input_specs())
        ]

    def _call_structure(self, xs: list):
        as_list = getattr(self, "_build_as_list", len(xs) > 1)
        return xs if as_list else xs[0]

    def _symbolic_outputs(self, xs: list, training: bool):
        """The model's outputs on ``xs`` as a flat list, and the call context (updates, losses)."""
        with call_context(training=training) as context:
            outputs = self(self._call_structure(xs))
        if isinstance(outputs, Mapping):
            outputs = [outputs[k] for k in self._output_name_list()]
        flat = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return flat, context

    def _loss_graph(self, training: bool):
        """Symbolic inputs, total loss, per-output losses, metric statistics, call context."""
        resolved = self._resolve_compile()
        xs = self._placeholders()
        preds, context = self._symbolic_outputs(xs, training)
        if len(preds) != len(resolved.outputs):
            raise ValueError(
                f"{self.name} returned {len(preds)} outputs, compile() configured "
                f"{len(resolved.outputs)}"
            )
        ys, sws, output_losses, stats = [], [], [], []
        for i, spec in enumerate(resolved.outputs):
            if spec.loss is None:
                continue
            ndim, dtype = self._target_specs[i]
            y = th.tensor(f"y{i}", dtype, (None,) * ndim)
            sw = th.tensor(f"sample_weight{i}", th.config.floatX, (None,))
            ys.append(y)
            sws.append(sw)
            output_losses.append(
                th.cast(spec.loss(y, preds[i], sample_weight=sw), th.config.floatX)
            )
            for metric in spec.metrics:
                metric_stats = list(metric.batch_statistics(y, preds[i], sample_weight=sw))
                resolved.stat_counts[id(metric)] = len(metric_stats)
                stats += metric_stats
        total = sum(
            (
                resolved.outputs[i].loss_weight * loss
                for i, loss in zip(resolved.with_loss, output_losses, strict=True)
            ),
            start=th.constant(np.asarray(0, th.config.floatX)),
        )
        for penalty in self.weight_regularization_losses() + list(context.losses):
            total = total + th.cast(penalty, th.config.floatX)
        return xs + ys + sws, total, output_losses, stats, context

    def _make_train_function(self):
        if "train" not in self._functions:
            inputs, total, output_losses, stats, context = self._loss_graph(training=True)
            params = self.trainable_weights
            grads = th.grad(total, params, disconnected_inputs="ignore")
            updates = _constrained(
                self.optimizer.get_updates(params, grads), self.weight_constraints()
            )
            updates += _state_updates(context.updates, {id(s) for s, _ in updates})
            extra = output_losses if len(output_losses) > 1 else []
            self._functions["train"] = th.function(
                inputs, [total, *extra, *stats], updates=updates, name=f"{self.name}_train"
            )
            self._apply_pending_state()
        return self._functions["train"]

    def _make_test_function(self):
        if "test" not in self._functions:
            inputs, total, output_losses, stats, _ = self._loss_graph(training=False)
            extra = output_losses if len(output_losses) > 1 else []
            self._functions["test"] = th.function(
                inputs, [total, *extra, *stats], name=f"{self.name}_test"
            )
        return self._functions["test"]

    def _make_predict_function(self):
        if "predict" not in self._functions:
            xs = self._placeholders()
            preds, _ = self._symbolic_outputs(xs, training=False)
            self._functions["predict"] = th.function(xs, preds, name=f"{self.name}_predict")
        return self._functions["predict"]

    def _apply_pending_state(self) -> None:
        """Once the train function (and the Dropout states) exists: restore saved states."""
        pending = self._pending_state.pop("random", None)
        if pending is not None:
            _assign(self._random_states(), pending, f"{self.name}: random state")

    def _random_states(self) -> list:
        """The state variables of every random stream the model's layers own, in layer order."""
        states = []
        pending = list(self._sublayers())
        while pending:
            layer = pending.pop(0)
            stream = getattr(layer, "stream", None)
            if isinstance(stream, th.random.RandomStream):
                states += stream.states
            pending[0:0] = layer._sublayers()
        return states

    # -- data -------------------------------------------------------------------------------------

    def _ensure_built(self, xs: list[np.ndarray]) -> None:
        if not self.built:
            specs = [((None, *x.shape[1:]), _placeholder_dtype(x)) for x in xs]
            self.build_from_specs(specs)

    def _standardize_x(self, x) -> list[np.ndarray]:
        """Model inputs as a list of arrays in input order, cast to the input dtypes."""
        if x is None:
            raise ValueError(f"{self.name}: x is required")
        if isinstance(x, Mapping):
            names = self.input_names if getattr(self, "inputs", None) else sorted(x)
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(
                    f"{self.name}: x is missing input(s) {missing}; given keys {sorted(x)}"
                )
            arrays = [np.asarray(x[n]) for n in names]
        elif isinstance(x, (list, tuple)):
            arrays = [np.asarray(a) for a in x]
        else:
            arrays = [np.asarray(x)]
        self._ensure_built(arrays)
        specs = self.input_specs()
        if len(arrays) != len(specs):
            raise ValueError(
                f"{self.name} expects {len(specs)} input array(s), received {len(arrays)}"
            )
        return [
            _cast_input(a, shape, dtype, i, self.name)
            for i, (a, (shape, dtype)) in enumerate(zip(arrays, specs, strict=True))
        ]

    def _standardize_y(self, y) -> list[np.ndarray | None]:
        """Targets as a list aligned with the outputs (None for outputs without a loss)."""
        resolved = self._resolve_compile()
        names = [spec.name for spec in resolved.outputs]
        if isinstance(y, Mapping):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(
                    f"{self.name}: y has unknown output name(s) {unknown}; outputs are {names}"
                )
            arrays = [None if y.get(n) is None else np.asarray(y[n]) for n in names]
        elif isinstance(y, (list, tuple)) and len(names) > 1:
            arrays = [np.asarray(a) for a in y]
        else:
            arrays = [None if y is None else np.asarray(y)]
        if len(arrays) != len(names):
            raise ValueError(
                f"{self.name} has {len(names)} outputs {names}; received {len(arrays)} target "
                "array(s)"
            )
        for i in resolved.with_loss:
            if arrays[i] is None:
                raise ValueError(f"{self.name}: output {names[i]!r} has a loss but no target in y")
        return [a if i in resolved.with_loss else None for i, a in enumerate(arrays)]

    def _fix_target_specs(self, ys: list) -> None:
        specs = [(0, "float32") if y is None else (y.ndim, _placeholder_dtype(y)) for y in ys]
        if self._target_specs != specs:
            if self._target_specs is not None:
                self._functions.pop("train", None)
                self._functions.pop("test", None)
            self._target_specs = specs

    def _standardize_sample_weights(
        self, sample_weight, ys, class_weight, n: int
    ) -> list[np.ndarray]:
        resolved = self._resolve_compile()
        names = [spec.name for spec in resolved.outputs]
        if isinstance(sample_weight, Mapping):
            given = [sample_weight.get(n) for n in names]
        elif isinstance(sample_weight, (list, tuple)) and len(names) > 1:
            given = list(sample_weight)
        else:
            given = [sample_weight] * len(names)
        weights = []
        for i in resolved.with_loss:
            w = (
                np.ones(n, th.config.floatX)
                if given[i] is None
                else np.asarray(given[i], th.config.floatX)
            )
            if w.shape != (n,):
                raise ValueError(
                    f"{self.name}: sample_weight for {names[i]!r} must have shape ({n},), got "
                    f"{w.shape}"
                )
            if class_weight is not None:
                w = w * _class_weights(class_weight, ys[i])
            weights.append(w)
        return weights

    def _prepare(self, x, y, sample_weight=None, class_weight=None) -> _Data:
        """Inputs, targets and sample weights as arrays of equal length, casts done."""
        if not self.compiled:
            raise RuntimeError(
                f"{self.name} must be compiled before training or evaluating; call compile()"
            )
        xs = self._standardize_x(x)
        ys = self._standardize_y(y)
        n = _common_length(xs + [v for v in ys if v is not None], self.name)
        self._fix_target_specs(ys)
        ys = [
            None if v is None else v.astype(spec[1])
            for v, spec in zip(ys, self._target_specs, strict=True)
        ]
        sws = self._standardize_sample_weights(sample_weight, ys, class_weight, n)
        return _Data(xs, [v for v in ys if v is not None], sws, n)

    # -- steps ------------------------------------------------------------------------------------

    def _run_step(self, function, data: _Data, tracker: _Tracker) -> None:
        """Run a compiled train or test function on one batch and add its results to ``tracker``."""
        tracker.update(function(*data.arrays()), data.n)

    def _new_tracker(self) -> _Tracker:
        resolved = self._resolve_compile()
        for metric in resolved.all_metrics():
            metric.reset_state()
        return _Tracker(resolved)

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        data = self._prepare(x, y, sample_weight, class_weight)
        tracker = self._new_tracker()
        self._run_step(self._make_train_function(), data, tracker)
        return _format_results(tracker.logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """The loss (and metrics) of one batch, without updates."""
        data = self._prepare(x, y, sample_weight)
        tracker = self._new_tracker()
        self._run_step(self._make_test_function(), data, tracker)
        return _format_results(tracker.logs(), return_dict)

    def predict_on_batch(self, x):
        """The model outputs for one batch."""
        xs = self._standardize_x(x)
        return _unflatten_predictions(self, self._make_predict_function()(*xs))

    # -- loops ------------------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose="auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        class_weight: Mapping | None = None,
        sample_weight=None,
        initial_epoch: int = 0,
    ):
        """Train for ``epochs`` epochs; returns the ``History`` (``history.history[name]``)."""
        batch_size = _batch_size(batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1). Received: {validation_split!r}")
        data = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            val = self._prepare(*_unpack_validation(validation_data))
        elif validation_split:
            split = int(data.n * (1.0 - validation_split))
            if split == 0 or split == data.n:
                raise ValueError(
                    f"validation_split={validation_split} leaves an empty set for {data.n} samples"
                )
            data, val = data.take(slice(None, split)), data.take(slice(split, None))
        train_function = self._make_train_function()
        steps = math.ceil(data.n / batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )
        rng = np.random.default_rng(seeding.next_seed())
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            tracker = self._new_tracker()
            order = rng.permutation(data.n) if shuffle else np.arange(data.n)
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                self._run_step(train_function, data.take(order[step * batch_size : (step + 1) * batch_size]), tracker)
                cbs.on_train_batch_end(step, tracker.logs())
                if self.stop_training:
                    break
            logs = tracker.logs()
            if val is not None:
                val_logs = self._evaluate_arrays(val, batch_size)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        return self.history

    def _evaluate_arrays(self, data: _Data, batch_size: int, cbs=None) -> dict[str, float]:
        """Loss and metrics over ``data``, batch by batch, through the test function."""
        function = self._make_test_function()
        tracker = self._new_tracker()
        for step in range(math.ceil(data.n / batch_size)):
            if cbs is not None:
                cbs.on_test_batch_begin(step)
            self._run_step(function, data.take(slice(step * batch_size, (step + 1) * batch_size)), tracker)
            if cbs is not None:
                cbs.on_test_batch_end(step, tracker.logs())
        return tracker.logs()

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose="auto",
        sample_weight=None,
        callbacks=None,
        return_dict: bool = False,
    ):
        """Loss and metrics on (x, y): ``[loss, *metrics]``, a scalar without metrics, or a dict."""
        batch_size = _batch_size(batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        data = self._prepare(x, y, sample_weight)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=math.ceil(data.n / batch_size),
            mode="test",
        )
        cbs.on_test_begin()
        logs = self._evaluate_arrays(data, batch_size, cbs)
        cbs.on_test_end(logs)
        return _format_results(logs, return_dict)

    def predict(self, x, batch_size: int | None = None, verbose="auto", callbacks=None):
        """Model outputs for ``x``, batch by batch: an array (a list/dict for several outputs)."""
        batch_size = _batch_size(batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        xs = self._standardize_x(x)
        n = _common_length(xs, self.name)
        function = self._make_predict_function()
        steps = math.ceil(n / batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=steps,
            mode="predict",
        )
        cbs.on_predict_begin()
        parts: list[list[np.ndarray]] = []
        for step in range(steps):
            part = slice(step * batch_size, (step + 1) * batch_size)
            cbs.on_predict_batch_begin(step)
            parts.append(function(*[a[part] for a in xs]))
            cbs.on_predict_batch_end(step, {})
        cbs.on_predict_end()
        if not parts:
            raise ValueError(f"{self.name}.predict: x holds no samples")
        return _unflatten_predictions(
            self, [np.concatenate(p, axis=0) for p in zip(*parts, strict=True)]
        )


# ----------------------------------------------------------------------------- host-side averages


class _Tracker:
    """Running averages of the loss (weighted by batch size) and of each metric."""

    def __init__(self, resolved: _Compiled):
        self.resolved = resolved
        self.n_losses = 1 + (len(resolved.with_loss) if len(resolved.outputs) > 1 else 0)
        self.loss_sums = np.zeros(self.n_losses)
        self.count = 0

    def update(self, values: Sequence[np.ndarray], batch: int) -> None:
        self.loss_sums += np.asarray([float(v) for v in values[: self.n_losses]]) * batch
        self.count += batch
        offset = self.n_losses
        for metric in self.resolved.all_metrics():
            size = self.resolved.stat_counts[id(metric)]
            metric.update([np.asarray(v) for v in values[offset : offset + size]])
            offset += size

    def logs(self) -> dict[str, float]:
        means = self.loss_sums / max(self.count, 1)
        logs = {"loss": float(means[0])}
        if self.n_losses > 1:
            for k, i in enumerate(self.resolved.with_loss):
                logs[f"{self.resolved.outputs[i].name}_loss"] = float(means[k + 1])
        for spec in self.resolved.outputs:
            for name, metric in zip(spec.metric_names, spec.metrics, strict=True):
                logs[name] = float(metric.result())
        return logs


# ----------------------------------------------------------------------------- helpers


def _is_single(loss) -> bool:
    return not isinstance(loss, (list, tuple, Mapping))


def _flat_metric_list(metrics, n_outputs: int) -> bool:
    """True when ``metrics`` applies to every output (None, or a flat list of metric ids)."""
    if metrics is None or isinstance(metrics, Mapping):
        return metrics is None
    if not isinstance(metrics, (list, tuple)):
        return True
    return not any(isinstance(m, (list, tuple)) or m is None for m in metrics) and not (
        n_outputs > 1 and len(metrics) == n_outputs and _looks_per_output(metrics)
    )


def _looks_per_output(metrics) -> bool:
    return any(isinstance(m, (list, tuple)) for m in metrics)


def _per_output(value, names: list[str], what: str, single_value: bool) -> list:
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


def _assign(variables: list, values: list[np.ndarray], what: str) -> None:
    """Set the first ``len(values)`` variables (states created later keep their initial value)."""
    if len(values) > len(variables):
        raise ValueError(
            f"{what}: the file holds {len(values)} arrays, the model has {len(variables)} variables"
        )
    for variable, value in zip(variables, values, strict=False):
        variable.set_value(value)


def _placeholder_dtype(array: np.ndarray) -> str:
    """Integer data (token ids, class labels) stays integer; everything else is ``floatX``."""
    return "int64" if array.dtype.kind in "iu" else th.config.floatX


def _cast_input(
    array: np.ndarray, shape: tuple, dtype: str, index: int, model_name: str
) -> np.ndarray:
    if array.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape[1:], array.shape[1:], strict=True)
    ):
        raise ValueError(
            f"{model_name}: input {index} expected shape {describe_shape(shape)}, received an "
            "array of shape "
            f"{array.shape}"
        )
    return np.ascontiguousarray(array, dtype=dtype)


def _common_length(arrays: list[np.ndarray], model_name: str) -> int:
    lengths = sorted({len(a) for a in arrays})
    if len(lengths) != 1:
        raise ValueError(
            f"{model_name}: all input and target arrays need the same number of samples; got "
            f"{lengths}"
        )
    return lengths[0]


def _class_weights(class_weight: Mapping, y: np.ndarray) -> np.ndarray:
    """Per-sample weights from a {class: weight} dict (labels or one-hot targets)."""
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = labels.astype("int64")
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"class_weight has no weight for class(es) {missing}")
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.asarray([table[int(c)] for c in labels], th.config.floatX)


def _batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(f"expected a positive integer. Received: batch_size={batch_size!r}")
    return int(batch_size)


def _unpack_validation(data):
    if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
        raise ValueError(
            "validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)"
        )
    return tuple(data) if len(data) == 3 else (data[0], data[1], None)


def _format_results(logs: dict[str, float], return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _unflatten_predictions(model, outputs: list[np.ndarray]):
    keys = getattr(model, "_output_keys", None)
    if len(outputs) == 1 and not keys:
        return outputs[0]
    if keys and isinstance(keys[0], str):
        return dict(zip(keys, outputs, strict=True))
    return list(outputs)

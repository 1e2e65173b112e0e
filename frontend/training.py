"""compile / fit / evaluate / predict: the training interface of a model.

``Trainer`` (mixed into ``Model``) composes five parts, each in a module
of its own:

- ``compile_utils``: what compile() attaches to each output (losses,
  loss weights, metrics and their log names);
- ``data_adapter``: x, y, sample and class weights as arrays;
- ``batches``: those arrays, a ``PyDataset`` or a generator, dealt out
  in batches epoch by epoch;
- ``step_functions``: the train/test/predict functions, each compiled
  ONCE through ``th.function``;
- ``loops``: the fit/evaluate/predict loops, their callbacks and the
  running averages of losses and metrics;
- ``custom_steps``: a model that overrides ``train_step``/``test_step``
  (Keras 3's way to customize fit) has that method traced and compiled.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

import theanine as th
from theanine.frontend import batches as batching
from theanine.frontend import compile_utils, custom_steps, distribute, loops, optimizers, seeding
from theanine.frontend import data_adapter as adapter
from theanine.frontend import metrics as metrics_module
from theanine.frontend.step_functions import StepFunctions, random_states

__all__ = ["Trainer"]


class Trainer:
    """compile/fit/evaluate/predict for models (mixed into ``Model``)."""

    def _init_trainer(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.steps_per_execution = 1
        self.jit_compile = "auto"
        self._compile_config: compile_utils.CompileConfig | None = None
        self._steps: StepFunctions | None = None
        self._pending_state: dict[str, list[np.ndarray]] = {}
        self._loss_tracker: metrics_module.Mean | None = None
        self._custom_steps: dict[tuple, object] = {}
        self._initial_epoch: int | None = None  # set by a callback that restores a backup
        self._strategy: distribute.MPIDataParallel | None = distribute.current_strategy()

    # -- compile ----------------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        steps_per_execution: int = 1,
        jit_compile="auto",
    ) -> None:
        """Choose the optimizer, the loss(es) and the metrics (Keras 3's arguments, in its order).

        ``loss``, ``loss_weights``, ``metrics`` and ``weighted_metrics`` may be
        given once for all outputs, as a list (one per output) or as a dict by
        output name.  Sample and class weights apply to the loss and to
        ``weighted_metrics`` only; ``metrics`` are unweighted.

        ``steps_per_execution`` batches run between two batch-level callback
        calls, as in Keras.  ``jit_compile`` ("auto", True or False) is
        accepted for Keras compatibility: theanine always compiles the step
        functions to native code, whatever it says.  ``loss`` may be None
        for a model that overrides ``train_step`` (it computes its own loss)
        or whose layers add their losses (``add_loss``), as in Keras; a model
        with neither is refused when its step is built.
        """
        steps_per_execution = _optional_count(steps_per_execution, "steps_per_execution")
        if jit_compile not in ("auto", True, False):
            raise ValueError(
                f"jit_compile must be 'auto', True or False. Received: jit_compile={jit_compile!r}"
            )
        self.optimizer = optimizers.get(optimizer)
        self._compile_config = compile_utils.CompileConfig(
            loss, loss_weights, metrics, weighted_metrics
        )
        self.steps_per_execution = steps_per_execution or 1
        self.jit_compile = jit_compile
        self._steps = None
        self._custom_steps = {}
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.compiled = True

    def _step_functions(self) -> StepFunctions:
        """The step functions of the current compile() (created once the outputs are known)."""
        if self._steps is None:
            compiled = None
            if self.compiled:
                names = self._output_name_list()
                compiled = compile_utils.resolve(
                    self._compile_config, names, self._output_shapes(len(names))
                )
            self._steps = StepFunctions(self, compiled)
        return self._steps

    def _check_compiled(self) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"{self.name} must be compiled before training or evaluating; call compile()"
            )

    def _compiled_outputs(self) -> compile_utils.CompiledOutputs:
        self._check_compiled()
        return self._step_functions().compiled

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
        return self._compiled_outputs().log_keys()

    # -- step functions and state -----------------------------------------------------------------

    def _train_function(self):
        """The train function; once it exists (with the Dropout states), saved states are restored."""
        function = self._step_functions().train()
        pending = self._pending_state.pop("random", None)
        if pending is not None:
            _assign(self._random_states(), pending, f"{self.name}: random state")
        return function

    def _random_states(self) -> list:
        """The state variables of every random stream the model's layers own, in layer order."""
        return random_states(self)

    # -- custom steps (Keras 3's train_step / test_step) ------------------------------------------

    def train_step(self, data):
        """One training step on a batch, written symbolically: override it to customize ``fit``.

        ``data`` is ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` of symbolic
        tensors (``custom_steps.py``); return a dict of logs.  This default
        is Keras': predict with ``training=True``, ``compute_loss``, the
        gradients of the trainable weights, ``optimizer.apply``, then update
        ``self.metrics`` and return their results.  (Without an override,
        fit compiles the same step in its own form, ``StepFunctions``.)
        """
        x, y, sample_weight = batching.unpack_batch(data)
        y_pred = self(x, training=True)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        weights = self.trainable_weights
        self.optimizer.apply(th.grad(loss, weights, disconnected_inputs="ignore"), weights)
        return self.compute_metrics(x, y, y_pred, sample_weight, loss)

    def test_step(self, data):
        """One evaluation step on a batch (symbolic; override it to customize ``evaluate``)."""
        x, y, sample_weight = batching.unpack_batch(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight, loss)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss, symbolically: the compiled loss of each output (weighted by its loss
        weight) plus the model's losses (regularization, ``add_loss``), as Keras 3 computes it."""
        compiled = self._compiled_outputs()
        names = [spec.name for spec in compiled.outputs]
        preds = _per_output(y_pred, names, "y_pred")
        targets = _per_output(y, names, "y")
        terms = []
        for i in compiled.with_loss:
            spec = compiled.outputs[i]
            loss = spec.loss(targets[i], preds[i], sample_weight=sample_weight)
            terms.append(spec.loss_weight * th.cast(loss, th.config.floatX))
        terms += [th.cast(penalty, th.config.floatX) for penalty in self.losses]
        if not terms:
            raise ValueError(
                f"{self.name}: no loss to compute. Provide a `loss` argument in `compile()`"
            )
        return sum(terms[1:], start=terms[0])

    def compute_metrics(self, x, y, y_pred, sample_weight=None, loss=None) -> dict:
        """Update ``self.metrics`` (the loss tracker with ``loss``, the others with the targets
        and predictions) and return ``{name: result}``, as Keras' default step does."""
        for metric in self.metrics:
            if metric is self._loss_tracker:
                if loss is not None:
                    metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight)
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self) -> list:
        """Keras' ``model.metrics``: once compiled, the loss tracker ("loss") and the compiled
        metrics (once the outputs are known); then the metrics assigned as attributes."""
        found = []
        if self.compiled:
            found.append(self._loss_tracker)
            if self.built:
                found += [slot.metric for slot in self._compiled_outputs().metrics]
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, metrics_module.Metric) and not any(item is m for m in found):
                    found.append(item)
        return found

    def reset_metrics(self) -> None:
        """Reset every metric of ``self.metrics``."""
        for metric in self.metrics:
            metric.reset_state()

    def _overrides_step(self, mode: str) -> bool:
        """Whether the model's class overrides ``train_step`` ("train") or ``test_step`` ("test")."""
        name = f"{mode}_step"
        return getattr(type(self), name) is not getattr(Trainer, name)

    def _step_runner(self, mode: str, reset: bool = True):
        """What runs the train or test step batch by batch: the override's, or the compiled one."""
        if self._overrides_step(mode):
            return custom_steps.CustomSteps(self, mode, reset)
        return loops.CompiledSteps(self, mode)

    # -- data -------------------------------------------------------------------------------------

    def _prepare(self, x, y, sample_weight=None, mode: str = "train") -> adapter.Data:
        """Inputs, targets and sample weights as arrays of equal length, casts done.

        The inputs come first: they build a model that is not built yet, which
        tells how many outputs the compile() arguments are spread over.  A
        model that overrides the step of ``mode`` gets its targets as given.
        """
        self._check_compiled()
        if self._overrides_step(mode):
            return custom_steps.prepare(self, x, y, sample_weight)
        xs = adapter.standardize_x(self, x)
        compiled = self._compiled_outputs()
        ys = adapter.standardize_y(compiled, y, self.name)
        adapter.check_sparse_labels(compiled, ys, self._output_shapes(len(ys)), self.name)
        n = adapter.common_length(xs + [v for v in ys if v is not None], self.name)
        steps = self._step_functions()
        steps.set_target_specs(adapter.target_specs(ys))
        ys = [
            None if v is None else v.astype(spec[1])
            for v, spec in zip(ys, steps.target_specs, strict=True)
        ]
        sws = adapter.sample_weights(compiled, sample_weight, n, self.name)
        steps.set_weight_ranks([w.ndim for w in sws])
        return adapter.Data(xs, [v for v in ys if v is not None], sws, n)

    # -- one batch --------------------------------------------------------------------------------

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        data = self._with_class_weight(self._prepare(x, y, sample_weight), class_weight)
        runner = self._step_runner("train", reset=False)
        runner.run(data)
        return loops.format_results(runner.logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """The loss (and metrics) of one batch, without updates."""
        runner = self._step_runner("test", reset=False)
        runner.run(self._prepare(x, y, sample_weight, "test"))
        return loops.format_results(runner.logs(), return_dict)

    def _with_class_weight(self, data: adapter.Data, class_weight) -> adapter.Data:
        if class_weight is not None and self._overrides_step("train"):
            raise ValueError(
                f"{self.name} overrides train_step, which receives the sample weights itself: "
                "pass sample_weight instead of class_weight"
            )
        return adapter.with_class_weight(data, class_weight)

    def predict_on_batch(self, x):
        """The model outputs for one batch."""
        xs = adapter.standardize_x(self, x)
        return loops.unflatten_predictions(self, self._step_functions().predict()(*xs))

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
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list = 1,
        strategy: distribute.MPIDataParallel | None = None,
    ):
        """Train for ``epochs`` epochs; returns the ``History`` (``history.history[name]``).

        ``x`` is arrays (with ``y``, ``sample_weight``), a ``PyDataset``-style
        sequence of batches or a generator of batches (``(x, y)`` or ``(x, y,
        sample_weight)``).  ``steps_per_epoch`` batches make an epoch (default:
        one pass); validation runs after the epochs ``validation_freq`` names
        (every n-th, or a list of 1-based epochs), over ``validation_steps``
        batches (default: all).  ``strategy`` (or the one whose ``scope()`` built the model)
        trains data-parallel over MPI (``distribute.py``).
        """
        epochs = _capped_epochs(_epoch_number(epochs, "epochs"))
        initial_epoch = _epoch_number(initial_epoch, "initial_epoch")
        strategy = self._use_strategy(strategy)
        verbose = _verbosity(verbose)
        steps_per_epoch = _optional_count(steps_per_epoch, "steps_per_epoch")
        validation_steps = _optional_count(validation_steps, "validation_steps")
        _check_validation_freq(validation_freq)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1). Received: {validation_split!r}")
        val_batch_size = validation_batch_size or batch_size
        val_source = None
        if batching.is_batch_stream(x):
            if validation_split:
                raise ValueError(
                    "validation_split needs array inputs; with a generator or PyDataset pass "
                    "validation_data"
                )
            train = self._stream_source(x, y, sample_weight, batch_size, "fit", class_weight)
        else:
            batch_size = adapter.batch_size_of(batch_size)
            data = self._prepare(x, y, sample_weight)
            if validation_split:
                same = self._overrides_step("train") == self._overrides_step("test")
                test_data = data if same else self._prepare(x, y, sample_weight, "test")
                data, _ = _split(data, validation_split)
                _, val = _split(test_data, validation_split)
                val_source = self._array_batches(val, val_batch_size, "fit (validation_split)")
            data = self._with_class_weight(data, class_weight)
            if not self._overrides_step("train"):
                self._train_function()
            seed = seeding.next_seed()
            rng = np.random.default_rng(seed if strategy is None else strategy.shared_seed(seed))
            train = self._array_batches(data, batch_size, "fit", shuffle, rng)
        if validation_data is not None:
            val_source = self._validation_source(validation_data, val_batch_size)
        if strategy is not None:
            train = strategy.shard(train)
            val_source = None if val_source is None else strategy.shard(val_source)
        batches = batching.EpochIterator(train, steps_per_epoch)
        val_batches = (
            None if val_source is None else batching.EpochIterator(val_source, validation_steps)
        )

        def validation(epoch: int) -> dict:
            if val_batches is None or not _validates(epoch, validation_freq):
                return {}
            cbs.on_test_begin()  # as Keras, fit's validation runs the callbacks' test hooks
            logs = loops.run_evaluate(self, val_batches.epoch(), cbs, what="fit (validation_data)")
            cbs.on_test_end(logs)
            return {f"val_{k}": v for k, v in logs.items()}

        if strategy is None:
            cbs = loops.callback_list(self, callbacks, verbose, "train", batches.steps, epochs)
            loops.run_fit(self, batches, validation, epochs, initial_epoch, cbs)
            return self.history
        if val_batches is not None and not self._overrides_step("test"):
            self._step_functions().test()  # compiled before the watchdog starts
        strategy.start(self)
        dog = strategy.watchdog()
        cbs = loops.callback_list(
            self, [*strategy.callbacks(callbacks), dog], verbose if strategy.is_chief else 0,
            "train", batches.steps, epochs,
        )
        with strategy.guarded(dog):
            loops.run_fit(self, batches, validation, epochs, initial_epoch, cbs)
        return self.history

    def _use_strategy(self, strategy):
        """The strategy of this fit (``strategy``, else the model's); a new one retraces the steps."""
        strategy = strategy or self._strategy
        if strategy is not self._strategy:
            self._strategy, self._steps = strategy, None
        if strategy is not None and self._overrides_step("train"):
            raise NotImplementedError(
                f"{self.name} overrides train_step: MPIDataParallel trains the compiled default step; "
                "a custom step can sum its gradients itself with th.distributed.allreduce"
            )
        return strategy

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        verbose="auto",
        sample_weight=None,
        steps: int | None = None,
        callbacks=None,
        return_dict: bool = False,
    ):
        """Loss and metrics on (x, y): ``[loss, *metrics]``, a scalar without metrics, or a dict.

        ``x`` may be a ``PyDataset``-style sequence or a generator of batches;
        ``steps`` limits the batches.
        """
        verbose = _verbosity(verbose)
        steps = _optional_count(steps, "steps")
        if batching.is_batch_stream(x):
            source = self._stream_source(x, y, sample_weight, batch_size, "evaluate", mode="test")
        else:
            source = self._array_batches(self._prepare(x, y, sample_weight, "test"), batch_size, "evaluate")
        if self._strategy is not None:  # each rank its shard; the compiled step sums the ranks'
            source = self._strategy.shard(source)
            callbacks = self._strategy.callbacks(callbacks)
            verbose = verbose if self._strategy.is_chief else 0
        batches = batching.EpochIterator(source, steps)
        cbs = loops.callback_list(self, callbacks, verbose, "test", batches.steps)
        cbs.on_test_begin()
        logs = loops.run_evaluate(self, batches.epoch(), cbs)
        cbs.on_test_end(logs)
        return loops.format_results(logs, return_dict)

    def predict(
        self,
        x,
        batch_size: int | None = None,
        verbose="auto",
        steps: int | None = None,
        callbacks=None,
    ):
        """Model outputs for ``x``, batch by batch: an array (a list/dict for several outputs).

        ``x`` may be a ``PyDataset``-style sequence or a generator of batches
        (of ``x``, or of ``(x, ...)`` whose first entry is used); ``steps``
        limits the batches.
        """
        verbose = _verbosity(verbose)
        steps = _optional_count(steps, "steps")
        if batching.is_batch_stream(x):
            source = batching.batch_source(x, self._inputs_only)
        else:
            source = self._array_batches(self._inputs_only(x), batch_size, "predict")
        batches = batching.EpochIterator(source, steps)
        cbs = loops.callback_list(self, callbacks, verbose, "predict", batches.steps)
        cbs.on_predict_begin()
        outputs = loops.run_predict(self, batches.epoch(), cbs)
        cbs.on_predict_end()
        return loops.unflatten_predictions(self, outputs)

    # -- batch sources ----------------------------------------------------------------------------

    def _stream_source(
        self, x, y, sample_weight, batch_size, what: str, class_weight=None, mode: str = "train"
    ):
        """The batch source of a generator or ``PyDataset``; each batch prepared as it comes
        (``batch_size`` is ignored, as in Keras: the batches come whole)."""
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"{self.name}.{what}: when x is a generator or a PyDataset its batches hold the "
                "targets and sample weights; y and sample_weight must be None"
            )

        def convert(batch) -> adapter.Data:
            return self._with_class_weight(
                self._prepare(*batching.unpack_batch(batch), mode), class_weight
            )

        return batching.batch_source(x, convert)

    def _validation_source(self, validation_data, batch_size):
        """fit's validation data as a batch source (never class-weighted)."""
        if batching.is_batch_stream(validation_data):
            return self._stream_source(
                validation_data, None, None, None, "fit (validation_data)", mode="test"
            )
        data = self._prepare(*adapter.unpack_validation(validation_data), "test")
        return self._array_batches(data, batch_size, "fit (validation_data)")

    def _array_batches(self, data: adapter.Data, batch_size, what: str, shuffle: bool = False, rng=None):
        """The batches of array data; arrays without samples are refused before anything runs
        (an epoch of no batches would train nothing and report no loss)."""
        if data.n == 0:
            raise ValueError(f"{self.name}.{what}: x holds no samples")
        return batching.ArrayBatches(data, adapter.batch_size_of(batch_size), shuffle, rng)

    def _inputs_only(self, batch) -> adapter.Data:
        """A predict batch: the model inputs of ``batch`` (a stream's ``(x, ...)`` gives ``x``)."""
        x = batching.unpack_batch(batch)[0] if isinstance(batch, tuple) else batch
        xs = adapter.standardize_x(self, x)
        return adapter.Data(xs, [], [], adapter.common_length(xs, self.name))


def _split(data: adapter.Data, validation_split: float) -> tuple[adapter.Data, adapter.Data]:
    """The first ``1 - validation_split`` of the samples for training, the rest for validation."""
    split = int(data.n * (1.0 - validation_split))
    if split == 0 or split == data.n:
        raise ValueError(
            f"validation_split={validation_split} leaves an empty set for {data.n} samples"
        )
    return data.take(slice(None, split)), data.take(slice(split, None))


def _optional_count(value, what: str) -> int | None:
    """None, or a positive integer (``steps_per_epoch``, ``steps``, ...)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"expected a positive integer or None. Received: {what}={value!r}")
    return int(value)


def _epoch_number(value, what: str) -> int:
    """``epochs`` or ``initial_epoch``: an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0. Received: {what}={value!r}")
    return int(value)


def _check_validation_freq(validation_freq) -> None:
    if isinstance(validation_freq, list):
        if all(isinstance(e, int) and not isinstance(e, bool) for e in validation_freq):
            return
    elif isinstance(validation_freq, int) and not isinstance(validation_freq, bool):
        if validation_freq > 0:
            return
    raise ValueError(
        "validation_freq must be a positive int or a list of 1-based epochs. Received: "
        f"validation_freq={validation_freq!r}"
    )


def _validates(epoch: int, validation_freq) -> bool:
    """Keras' rule: validate after every n-th epoch, or after the (1-based) epochs listed."""
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


def _verbosity(verbose) -> int:
    """Keras' ``verbose``: "auto" is 1 (a progress bar), or 2 (a line per epoch) while interactive
    logging is off (``keras.config.disable_interactive_logging``); else 0, 1 or 2."""
    if verbose == "auto":
        return 1 if th.config.interactive_logging else 2
    return int(verbose)


def _capped_epochs(epochs: int) -> int:
    """``epochs`` under ``keras.config.max_epochs()``, warning as Keras does when it cuts."""
    cap = th.config.max_epochs
    if cap is not None and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap} (keras.config.max_epochs)", stacklevel=3)
        return cap
    return epochs


def _assign(variables: list, values: list[np.ndarray], what: str) -> None:
    """Set the first ``len(values)`` variables (states created later keep their initial value)."""
    if len(values) > len(variables):
        raise ValueError(
            f"{what}: the file holds {len(values)} arrays, the model has {len(variables)} variables"
        )
    for variable, value in zip(variables, values, strict=False):
        variable.set_value(value)


def _per_output(value, names: list[str], what: str) -> list:
    """A structure of one tensor per output (a tensor, a list, or a dict by output name) as a list."""
    if isinstance(value, Mapping):
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{what} has {len(value)} entries for the {len(names)} outputs {names}")
        return list(value)
    return [value]

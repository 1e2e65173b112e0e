"""compile / fit / evaluate / predict: the training interface of a model.

``Trainer`` (mixed into ``Model``) composes four parts, each in a module
of its own:

- ``compile_utils``: what compile() attaches to each output (losses,
  loss weights, metrics and their log names);
- ``data_adapter``: x, y, sample and class weights as arrays, cut into
  batches;
- ``step_functions``: the train/test/predict functions, each compiled
  ONCE through ``th.function``;
- ``loops``: the fit/evaluate/predict loops, their callbacks and the
  running averages of losses and metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from theanine.frontend import compile_utils, loops, optimizers, seeding
from theanine.frontend import data_adapter as adapter
from theanine.frontend.step_functions import StepFunctions, random_states

__all__ = ["Trainer"]


class Trainer:
    """compile/fit/evaluate/predict for models (mixed into ``Model``)."""

    def _init_trainer(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compile_config: compile_utils.CompileConfig | None = None
        self._steps: StepFunctions | None = None
        self._pending_state: dict[str, list[np.ndarray]] = {}

    # -- compile ----------------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
    ) -> None:
        """Choose the optimizer, the loss(es) and the metrics (Keras 3's arguments, in its order).

        ``loss``, ``loss_weights``, ``metrics`` and ``weighted_metrics`` may be
        given once for all outputs, as a list (one per output) or as a dict by
        output name.  Sample and class weights apply to the loss and to
        ``weighted_metrics`` only; ``metrics`` are unweighted.
        """
        if loss is None:
            raise ValueError(
                f"{self.name}.compile needs a loss (e.g. loss='mse'). Received: loss=None"
            )
        self.optimizer = optimizers.get(optimizer)
        self._compile_config = compile_utils.CompileConfig(
            loss, loss_weights, metrics, weighted_metrics
        )
        self._steps = None
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

    # -- data -------------------------------------------------------------------------------------

    def _prepare(self, x, y, sample_weight=None) -> adapter.Data:
        """Inputs, targets and sample weights as arrays of equal length, casts done.

        The inputs come first: they build a model that is not built yet, which
        tells how many outputs the compile() arguments are spread over.
        """
        self._check_compiled()
        xs = adapter.standardize_x(self, x)
        compiled = self._compiled_outputs()
        ys = adapter.standardize_y(compiled, y, self.name)
        n = adapter.common_length(xs + [v for v in ys if v is not None], self.name)
        steps = self._step_functions()
        steps.set_target_specs(adapter.target_specs(ys))
        ys = [
            None if v is None else v.astype(spec[1])
            for v, spec in zip(ys, steps.target_specs, strict=True)
        ]
        sws = adapter.sample_weights(compiled, sample_weight, n, self.name)
        return adapter.Data(xs, [v for v in ys if v is not None], sws, n)

    # -- one batch --------------------------------------------------------------------------------

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False
    ):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        data = adapter.with_class_weight(self._prepare(x, y, sample_weight), class_weight)
        function = self._train_function()
        tracker = loops.Tracker(self._steps.compiled, self._steps.layout)
        tracker.update(function(*data.arrays()), data.n)
        return loops.format_results(tracker.logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """The loss (and metrics) of one batch, without updates."""
        data = self._prepare(x, y, sample_weight)
        logs = loops.run_evaluate(self._steps, adapter.ArrayBatches(data, max(data.n, 1)))
        return loops.format_results(logs, return_dict)

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
    ):
        """Train for ``epochs`` epochs; returns the ``History`` (``history.history[name]``)."""
        batch_size = adapter.batch_size_of(batch_size)
        verbose = _verbosity(verbose)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1). Received: {validation_split!r}")
        data = self._prepare(x, y, sample_weight)
        val = None
        if validation_data is not None:
            val = self._prepare(*adapter.unpack_validation(validation_data))
        elif validation_split:
            split = int(data.n * (1.0 - validation_split))
            if split == 0 or split == data.n:
                raise ValueError(
                    f"validation_split={validation_split} leaves an empty set for {data.n} samples"
                )
            data, val = data.take(slice(None, split)), data.take(slice(split, None))
        data = adapter.with_class_weight(data, class_weight)
        train_function = self._train_function()
        rng = np.random.default_rng(seeding.next_seed())
        batches = adapter.ArrayBatches(data, batch_size, shuffle, rng)
        val_batches = None if val is None else adapter.ArrayBatches(val, batch_size)
        cbs = loops.callback_list(self, callbacks, verbose, "train", batches.steps, epochs)
        loops.run_fit(
            self, self._steps, train_function, batches, val_batches, epochs, initial_epoch, cbs
        )
        return self.history

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
        batch_size = adapter.batch_size_of(batch_size)
        verbose = _verbosity(verbose)
        batches = adapter.ArrayBatches(self._prepare(x, y, sample_weight), batch_size)
        cbs = loops.callback_list(self, callbacks, verbose, "test", batches.steps)
        cbs.on_test_begin()
        logs = loops.run_evaluate(self._steps, batches, cbs)
        cbs.on_test_end(logs)
        return loops.format_results(logs, return_dict)

    def predict(self, x, batch_size: int | None = None, verbose="auto", callbacks=None):
        """Model outputs for ``x``, batch by batch: an array (a list/dict for several outputs)."""
        batch_size = adapter.batch_size_of(batch_size)
        verbose = _verbosity(verbose)
        xs = adapter.standardize_x(self, x)
        n = adapter.common_length(xs, self.name)
        if n == 0:
            raise ValueError(f"{self.name}.predict: x holds no samples")
        function = self._step_functions().predict()
        batches = adapter.ArrayBatches(adapter.Data(xs, [], [], n), batch_size)
        cbs = loops.callback_list(self, callbacks, verbose, "predict", batches.steps)
        cbs.on_predict_begin()
        outputs = loops.run_predict(function, batches, cbs)
        cbs.on_predict_end()
        return loops.unflatten_predictions(self, outputs)


def _verbosity(verbose) -> int:
    """Keras' ``verbose``: "auto" is 1 (a progress bar), else 0, 1 or 2."""
    return 1 if verbose == "auto" else int(verbose)


def _assign(variables: list, values: list[np.ndarray], what: str) -> None:
    """Set the first ``len(values)`` variables (states created later keep their initial value)."""
    if len(values) > len(variables):
        raise ValueError(
            f"{what}: the file holds {len(values)} arrays, the model has {len(variables)} variables"
        )
    for variable, value in zip(variables, values, strict=False):
        variable.set_value(value)

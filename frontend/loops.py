"""The fit, evaluate and predict loops: batches through the step functions, callbacks, averages.

Losses and metrics average on the host: the loss over the batches weighted
by batch size (``Tracker``), each metric through its own sufficient
statistics (``metric.update``).  The logs a callback receives after a batch
are the epoch's running averages so far.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from theanine.frontend import callbacks as callbacks_module
from theanine.frontend.batches import EpochIterator
from theanine.frontend.compile_utils import CompiledOutputs
from theanine.frontend.step_functions import StepLayout

__all__ = [
    "Tracker",
    "CompiledSteps",
    "callback_list",
    "executions",
    "run_fit",
    "run_evaluate",
    "run_predict",
    "format_results",
    "unflatten_predictions",
]


class Tracker:
    """Running averages of the losses (weighted by batch size) and of each metric.

    Creating a tracker resets the metrics' totals.
    """

    def __init__(self, compiled: CompiledOutputs):
        self.compiled = compiled
        self.loss_sums = np.zeros(len(compiled.loss_keys()))
        self.count = 0
        for slot in compiled.metrics:
            slot.metric.reset_state()

    def update(self, values: Sequence[np.ndarray], batch: int, layout: StepLayout) -> None:
        """Add one batch's step-function outputs (of ``batch`` samples), laid out as ``layout``."""
        n_losses = layout.n_losses
        self.loss_sums += np.asarray([float(v) for v in values[:n_losses]]) * batch
        self.count += batch
        offset = n_losses
        for slot, size in zip(self.compiled.metrics, layout.stat_counts, strict=True):
            slot.metric.update([np.asarray(v) for v in values[offset : offset + size]])
            offset += size

    def logs(self) -> dict:
        """``{"loss": ..., "<output>_loss": ..., "<metric>": ...}`` in ``log_keys`` order."""
        means = self.loss_sums / max(self.count, 1)
        logs = {
            key: float(mean) for key, mean in zip(self.compiled.loss_keys(), means, strict=True)
        }
        for slot in self.compiled.metrics:
            logs[slot.name] = slot.metric.result()
        return logs


def callback_list(model, callbacks, verbose: int, mode: str, steps: int, epochs: int = 1):
    """The callbacks of one fit ("train"), evaluate ("test") or predict ("predict") call.

    The user's callbacks, then (fit only) the ``History`` that becomes
    ``model.history``, then the progress bar unless ``verbose`` is 0.
    """
    return callbacks_module.CallbackList(
        callbacks,
        add_history=mode == "train",
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
        mode=mode,
    )


def executions(batches: Iterable, size: int) -> Iterator[tuple[int, int, list]]:
    """Consecutive groups of ``size`` batches (Keras' ``steps_per_execution``): ``(first step,
    last step, batches)``; batch callbacks run once per group."""
    group: list = []
    begin = 0
    for step, batch in enumerate(batches):
        group.append(batch)
        if len(group) == size:
            yield begin, step, group
            group, begin = [], step + 1
    if group:
        yield begin, begin + len(group) - 1, group


class CompiledSteps:
    """The default steps: batches through the compiled train or test function, averaged by a
    ``Tracker``.  (A model that overrides ``train_step`` runs ``custom_steps.CustomSteps``.)

    The function and the compiled outputs are fetched per batch: a stream's
    first batch may build the model, and new target types retrace.
    """

    def __init__(self, model, mode: str):
        self.model, self.mode = model, mode
        self.tracker: Tracker | None = None

    def run(self, batch) -> None:
        model = self.model
        function = model._train_function() if self.mode == "train" else model._steps.test()
        self.tracker = self.tracker or Tracker(model._steps.compiled)
        layout = model._steps.layout
        values = function(*batch.arrays())
        count = int(round(float(values[-1]))) if layout.global_count else batch.n
        self.tracker.update(values, count, layout)

    def logs(self) -> dict:
        return self.tracker.logs()


def _run_steps(model, mode: str, batches: Iterable, cbs, per_execution: int):
    """Run every batch through the model's train or test step; returns the step runner (whose
    ``logs()`` are the epoch's), None when there was no batch."""
    runner = None
    begin_hook = cbs.on_train_batch_begin if mode == "train" else cbs.on_test_batch_begin
    end_hook = cbs.on_train_batch_end if mode == "train" else cbs.on_test_batch_end
    for begin, end, group in executions(batches, per_execution):
        begin_hook(begin)
        runner = runner or model._step_runner(mode)
        for batch in group:
            runner.run(batch)
        end_hook(end, runner.logs())
        if mode == "train" and model.stop_training:
            break
    return runner


def run_fit(
    model,
    batches: EpochIterator,
    validation,
    epochs: int,
    initial_epoch: int,
    cbs,
) -> None:
    """Epochs ``initial_epoch..epochs-1`` of training, validating when ``validation`` says, until
    stopped or out of data.

    ``validation(epoch)`` returns the ``val_`` logs of that epoch (empty when
    it does not validate).  ``on_train_end`` gets the last epoch's logs, as in Keras.
    """
    model.stop_training = False
    model._initial_epoch = None
    cbs.on_train_begin()
    if model._initial_epoch is not None:  # a callback restored a backup (BackupAndRestore)
        initial_epoch, model._initial_epoch = model._initial_epoch, None
    logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        runner = _run_steps(model, "train", batches.epoch(), cbs, model.steps_per_execution)
        if runner is None:
            _ran_out_warning()
            break
        logs = {**runner.logs(), **validation(epoch)}
        cbs.on_epoch_end(epoch, logs)
        if model._strategy is not None:  # every rank stops after the same epoch: rank 0's call
            model.stop_training = model._strategy.agree(model.stop_training)
        if model.stop_training:
            break
        if batches.ran_out and epoch < epochs - 1:
            _ran_out_warning()
            break
    if epochs > 0:  # as Keras: an optimizer with use_ema leaves the moving averages in the weights
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs)


def _ran_out_warning() -> None:
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your dataset or "
        "generator can generate at least `steps_per_epoch * epochs` batches",
        UserWarning,
        stacklevel=3,
    )


def run_evaluate(model, batches: Iterable, cbs=None, what: str = "evaluate") -> dict:
    """Loss and metrics over every batch, through the test function."""
    cbs = cbs or callbacks_module.CallbackList()
    runner = _run_steps(model, "test", batches, cbs, model.steps_per_execution)
    if runner is None:
        raise ValueError(
            f"{model.name}.{what}: the data holds no batch (a generator can be read only once: "
            "pass a PyDataset, or an endless generator with steps)"
        )
    return runner.logs()


def run_predict(model, batches: Iterable, cbs) -> list[np.ndarray]:
    """Each model output over every batch, concatenated along the batch axis."""
    parts: list[list[np.ndarray]] = []
    for begin, end, group in executions(batches, model.steps_per_execution):
        cbs.on_predict_batch_begin(begin)
        for batch in group:
            parts.append(model._step_functions().predict()(*batch.xs))
        cbs.on_predict_batch_end(end, {"outputs": unflatten_predictions(model, parts[-1])})
    if not parts:
        raise ValueError(f"{model.name}.predict: x holds no samples")
    return [np.concatenate(p, axis=0) for p in zip(*parts, strict=True)]


def format_results(logs: dict[str, float], return_dict: bool):
    """evaluate's result: the dict, the list of values, or the only value."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def unflatten_predictions(model, outputs: list[np.ndarray]):
    """The flat outputs in the model's output structure: one array, a list or a dict."""
    keys = getattr(model, "_output_keys", None)
    if len(outputs) == 1 and not keys:
        return outputs[0]
    if keys and isinstance(keys[0], str):
        return dict(zip(keys, outputs, strict=True))
    return list(outputs)

"""The fit, evaluate and predict loops: batches through the step functions, callbacks, averages.

Losses and metrics average on the host: the loss over the batches weighted
by batch size (``Tracker``), each metric through its own sufficient
statistics (``metric.update``).  The logs a callback receives after a batch
are the epoch's running averages so far.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.frontend import callbacks as callbacks_module
from theanine.frontend.compile_utils import CompiledOutputs
from theanine.frontend.data_adapter import ArrayBatches
from theanine.frontend.step_functions import StepFunctions, StepLayout

__all__ = [
    "Tracker",
    "callback_list",
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

    def __init__(self, compiled: CompiledOutputs, layout: StepLayout):
        self.compiled, self.layout = compiled, layout
        self.loss_sums = np.zeros(layout.n_losses)
        self.count = 0
        for slot in compiled.metrics:
            slot.metric.reset_state()

    def update(self, values: Sequence[np.ndarray], batch: int) -> None:
        """Add one batch's step-function outputs (of ``batch`` samples)."""
        n_losses = self.layout.n_losses
        self.loss_sums += np.asarray([float(v) for v in values[:n_losses]]) * batch
        self.count += batch
        offset = n_losses
        for slot, size in zip(self.compiled.metrics, self.layout.stat_counts, strict=True):
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


def run_fit(
    model,
    steps: StepFunctions,
    train_function,
    batches: ArrayBatches,
    val_batches: ArrayBatches | None,
    epochs: int,
    initial_epoch: int,
    cbs,
) -> None:
    """Epochs ``initial_epoch..epochs-1`` of training, validating after each, until stopped."""
    model.stop_training = False
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        tracker = Tracker(steps.compiled, steps.layout)
        for step, batch in enumerate(batches.epoch()):
            cbs.on_train_batch_begin(step)
            tracker.update(train_function(*batch.arrays()), batch.n)
            cbs.on_train_batch_end(step, tracker.logs())
            if model.stop_training:
                break
        logs = tracker.logs()
        if val_batches is not None:
            logs.update({f"val_{k}": v for k, v in run_evaluate(steps, val_batches).items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end()


def run_evaluate(steps: StepFunctions, batches: ArrayBatches, cbs=None) -> dict[str, float]:
    """Loss and metrics over every batch, through the test function."""
    function = steps.test()
    tracker = Tracker(steps.compiled, steps.layout)
    for step, batch in enumerate(batches.epoch()):
        if cbs is not None:
            cbs.on_test_batch_begin(step)
        tracker.update(function(*batch.arrays()), batch.n)
        if cbs is not None:
            cbs.on_test_batch_end(step, tracker.logs())
    return tracker.logs()


def run_predict(function, batches: ArrayBatches, cbs) -> list[np.ndarray]:
    """Each model output over every batch, concatenated along the batch axis."""
    parts: list[list[np.ndarray]] = []
    for step, batch in enumerate(batches.epoch()):
        cbs.on_predict_batch_begin(step)
        parts.append(function(*batch.xs))
        cbs.on_predict_batch_end(step, {})
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

"""Callbacks: hooks that fit/evaluate/predict call at the start and end of
training, epochs and batches (Keras semantics and argument names).

``logs`` hold the running averages so far: per batch the epoch's averages,
per epoch the epoch's values plus the ``val_`` ones.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from theanine.frontend.progbar import Progbar

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "CSVLogger",
    "TerminateOnNaN",
    "LambdaCallback",
    "BackupAndRestore",
    "TensorBoard",
    "SwapEMAWeights",
    "RemoteMonitor",
]

_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class Callback:
    """Base class: override the hooks you need; ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_batch_begin(self, batch: int, logs=None): ...
    def on_batch_end(self, batch: int, logs=None): ...

    def on_train_batch_begin(self, batch: int, logs=None):
        """Calls ``on_batch_begin``, Keras' older name for this hook (as Keras 3 does)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs=None):
        """Calls ``on_batch_end``, Keras' older name for this hook (as Keras 3 does)."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch: int, logs=None): ...
    def on_test_batch_end(self, batch: int, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch: int, logs=None): ...
    def on_predict_batch_end(self, batch: int, logs=None): ...


class CallbackList(Callback):
    """Calls every hook on each callback in order; fit adds History and the progress bar.

    As in Keras, ``History`` and the progress bar come after the user's
    callbacks, so the logs they record and print include what those
    callbacks added (``learning_rate`` from the learning-rate callbacks).
    A ``History`` or ``ProgbarLogger`` the user passes is used instead of a
    new one.
    """

    def __init__(
        self,
        callbacks: Sequence[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model=None,
        mode: str = "train",
        **params,
    ):
        super().__init__()
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks must be Callback instances. Received: {type(callback).__name__}"
                )
        history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if history is None and add_history:
            history = History()
            self.callbacks.append(history)
        if history is not None:
            model.history = history
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger(mode=mode))
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(_logs(logs))

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(_logs(logs))

    def on_epoch_begin(self, epoch: int, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, _logs(logs))

    def on_epoch_end(self, epoch: int, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, _logs(logs))

    def on_train_batch_begin(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, _logs(logs))

    def on_train_batch_end(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, _logs(logs))

    def on_test_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_test_begin(_logs(logs))

    def on_test_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_test_end(_logs(logs))

    def on_test_batch_begin(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, _logs(logs))

    def on_test_batch_end(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, _logs(logs))

    def on_predict_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_predict_begin(_logs(logs))

    def on_predict_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_predict_end(_logs(logs))

    def on_predict_batch_begin(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, _logs(logs))

    def on_predict_batch_end(self, batch: int, logs=None):
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, _logs(logs))


def _logs(logs) -> dict:
    """Callbacks always receive a dict (Keras passes ``{}`` for no logs)."""
    return {} if logs is None else logs


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list per epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (verbose=1) or one line per epoch (verbose=2)."""

    chief_only = True  # prints or writes files: rank 0 only under MPIDataParallel

    def __init__(self, mode: str = "train", stream=None):
        super().__init__()
        self.mode = mode
        self.stream = stream
        self.bar: Progbar | None = None
        self.seen = 0

    def _new_bar(self) -> None:
        self.bar = Progbar(
            self.params.get("steps"), verbose=self.params.get("verbose", 1), stream=self.stream
        )
        self.seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs")
        print(f"Epoch {epoch + 1}/{epochs}", file=self.stream, flush=True)
        self._new_bar()

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        self.bar.update(self.seen, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.seen, logs, finalize=True)

    def on_test_begin(self, logs=None):
        if self.mode == "test":
            self._new_bar()

    def on_test_batch_end(self, batch, logs=None):
        if self.mode == "test":
            self.seen = batch + 1
            self.bar.update(self.seen, logs, finalize=False)

    def on_test_end(self, logs=None):
        if self.mode == "test":
            self.bar.update(self.seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self._new_bar()

    def on_predict_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        self.bar.update(self.seen, {}, finalize=False)

    def on_predict_end(self, logs=None):
        self.bar.update(self.seen, {}, finalize=True)


class _Monitor:
    """Compares values of one monitored quantity in "min" or "max" mode (with min_delta)."""

    def __init__(self, monitor: str, mode: str, min_delta: float, owner: str):
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"{owner}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}"
            )
        if mode == "auto":
            mode = "max" if _higher_is_better(monitor) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)

    def initial(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, current: float, best: float) -> bool:
        if self.mode == "min":
            return current < best - self.min_delta
        return current > best + self.min_delta

    def value(self, logs, owner: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            import warnings

            warnings.warn(
                f"{owner}: the monitored quantity {self.monitor!r} is not in the logs "
                f"(available: {sorted(logs or {})})",
                RuntimeWarning,
                stacklevel=3,
            )
        return value


def _higher_is_better(monitor: str) -> bool:
    name = monitor.removeprefix("val_")
    return any(word in name for word in ("acc", "auc", "precision", "recall", "f1"))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the weights of the best epoch are put back
    when training ends, whether it stopped early or ran all its epochs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self.watch = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self.watch.initial()
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.watch.value(logs, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self.watch.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.watch.improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring the model weights of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after each epoch, or only when ``monitor`` improves.

    ``filepath`` may hold format fields: ``"ckpt-{epoch:02d}-{val_loss:.3f}.theanine"``.
    As in Keras, ``save_freq`` is ``"epoch"`` or a number of training batches
    (the file is then saved after that many batches, formatted with that batch's
    logs, ``epoch`` and ``batch``), and ``initial_value_threshold`` is the value
    ``monitor`` must first improve on when ``save_best_only``.
    """

    chief_only = True  # prints or writes files: rank 0 only under MPIDataParallel

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq="epoch",
        initial_value_threshold: float | None = None,
    ):
        super().__init__()
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq <= 0
        ):
            raise ValueError(
                "ModelCheckpoint: save_freq must be 'epoch' or a positive number of batches. "
                f"Received: save_freq={save_freq!r}"
            )
        self.filepath = os.fspath(filepath)
        self.watch = _Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq
        self.best = self.watch.initial() if initial_value_threshold is None else float(initial_value_threshold)
        self._epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        fields = {"epoch": epoch + 1, **({} if batch is None else {"batch": batch + 1}), **logs}
        path = self.filepath.format(**fields)
        if self.save_best_only:
            current = self.watch.value(logs, "ModelCheckpoint")
            if current is None or not self.watch.improved(current, self.best):
                return
            if self.verbose > 0:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{current:.5f}, "
                    f"saving model to {path}"
                )
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Each epoch's logs get ``learning_rate``: the rate that epoch trained with.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ):
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ValueError(
                f"ReduceLROnPlateau: factor must be in (0, 1). Received: factor={factor!r}"
            )
        self.watch = _Monitor(monitor, mode, min_delta, "ReduceLROnPlateau")
        self.monitor, self.factor, self.patience, self.verbose = (
            monitor,
            factor,
            int(patience),
            verbose,
        )
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.best = self.watch.initial()
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self.watch.value(logs, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.watch.improved(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = float(self.model.optimizer.learning_rate)
            new = max(old * self.factor, self.min_lr)
            if old > new:
                self.model.optimizer.learning_rate = new
                if self.verbose > 0:
                    print(
                        f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.6g}."
                    )
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)``.

    Each epoch's logs get ``learning_rate``: the rate that epoch trained with.
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, float(self.model.optimizer.learning_rate)))
        if not math.isfinite(lr):
            raise ValueError(
                f"LearningRateScheduler: the schedule returned {lr!r} for epoch {epoch}"
            )
        self.model.optimizer.learning_rate = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr:.6g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Append one CSV row per epoch: ``epoch`` then the logs' keys, sorted."""

    chief_only = True  # prints or writes files: rank 0 only under MPIDataParallel

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None
        self.file = None
        self.writer = None

    def on_train_begin(self, logs=None):
        has_header = (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self.write_header = not has_header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(
                self.file, fieldnames=["epoch", *self.keys], delimiter=self.separator
            )
            if self.write_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
            self.file = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable):
        super().__init__()
        unknown = sorted(set(hooks) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hook(s) {unknown}; known: {list(_HOOKS)}")
        for name, function in hooks.items():
            setattr(self, name, function)


# Callbacks with a module of their own, built on ``Callback`` above (so imported after it).
from theanine.frontend.backup_and_restore import BackupAndRestore  # noqa: E402
from theanine.frontend.remote_monitor import RemoteMonitor  # noqa: E402
from theanine.frontend.swap_ema_weights import SwapEMAWeights  # noqa: E402
from theanine.frontend.tensorboard import TensorBoard  # noqa: E402

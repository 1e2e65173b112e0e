"""``callbacks.TensorBoard``: the logs as TensorBoard event files, as Keras 3 writes them.

Scalars only (``histogram_freq``, images, graphs and profiling are not
written).  The event files are written by ``tensorboardX`` (the optional
extra ``theanine[tensorboard]``), a maintained writer of TensorBoard's
event format, so ``tensorboard --logdir`` reads them.  Keras' layout and
tags:

- ``<log_dir>/train``: ``epoch_<name>`` at step ``epoch`` (0-based) for every
  training log and ``epoch_learning_rate``; with ``update_freq="batch"``
  (or an integer n: every n-th batch), ``batch_<name>`` at the global batch
  count (1-based, across epochs);
- ``<log_dir>/validation``: ``epoch_<name>`` for every ``val_<name>`` log,
  and after ``evaluate(callbacks=[...])`` ``evaluation_<name>_vs_iterations``
  at the optimizer's iteration count.

Array-valued logs (per-class scores) are skipped: a scalar summary holds
one number.
"""

from __future__ import annotations

import os

import numpy as np

from theanine.frontend.callbacks import Callback

__all__ = ["TensorBoard"]

_SCALARS_ONLY = {
    "histogram_freq": 0,
    "write_graph": True,
    "write_images": False,
    "write_steps_per_second": False,
    "profile_batch": 0,
    "embeddings_freq": 0,
    "embeddings_metadata": None,
}
"""Keras' other arguments, accepted at their defaults (``write_graph`` at any value: no graph is
written)."""


def _summary_writer(log_dir: str):
    """A ``tensorboardX.SummaryWriter`` for ``log_dir`` (the optional dependency, imported here)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError(
            "callbacks.TensorBoard writes event files with tensorboardX; install it with "
            "`pip install tensorboardX` (or `pip install theanine[tensorboard]`)"
        ) from exc
    return SummaryWriter(log_dir)


class TensorBoard(Callback):
    """Write the logs of ``fit`` (and ``evaluate``) for TensorBoard (see the module docstring)."""

    chief_only = True  # writes files: rank 0 only under MPIDataParallel

    def __init__(self, log_dir="logs", update_freq="epoch", **keras_options):
        super().__init__()
        unknown = sorted(set(keras_options) - set(_SCALARS_ONLY))
        if unknown:
            raise TypeError(f"TensorBoard got unexpected keyword argument(s) {unknown}")
        asked = sorted(
            k for k, v in keras_options.items() if k != "write_graph" and v != _SCALARS_ONLY[k]
        )
        if asked:
            raise ValueError(
                "TensorBoard writes scalars only: histograms, graphs, images, embeddings, "
                f"profiles and steps per second are not supported. Received: {asked}"
            )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq <= 0
        ):
            raise ValueError(
                "update_freq must be 'epoch', 'batch' or a positive integer. Received: "
                f"update_freq={update_freq!r}"
            )
        self.log_dir, self.update_freq = os.fspath(log_dir), update_freq
        self._writers: dict[str, object] = {}
        self._global_train_batch = 0
        self._training = False

    def _writer(self, name: str):
        if name not in self._writers:
            self._writers[name] = _summary_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def _write(self, writer: str, tags: dict, step: int) -> None:
        for tag, value in tags.items():
            array = np.asarray(value)
            if array.ndim == 0 and array.dtype.kind in "biuf":
                self._writer(writer).add_scalar(tag, float(array), global_step=int(step))

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_begin(self, logs=None):
        self._training, self._global_train_batch = True, 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        self._write("train", {f"batch_{k}": v for k, v in (logs or {}).items()},
                    self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        if getattr(self.model, "optimizer", None) is not None:
            train["epoch_learning_rate"] = self.model.optimizer.learning_rate
        self._write("train", train, epoch)
        self._write("validation", {f"epoch_{k[4:]}": v for k, v in logs.items()
                                   if k.startswith("val_")}, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            step = int(optimizer.iterations.get_value())
            self._write("validation", {f"evaluation_{k}_vs_iterations": v
                                       for k, v in (logs or {}).items()}, step)
        if not self._training:
            self._close()

    def on_train_end(self, logs=None):
        self._training = False
        self._close()

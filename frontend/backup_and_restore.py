"""``callbacks.BackupAndRestore``: resume an interrupted ``fit`` where it stopped, as Keras 3 does.

At the end of every epoch (or every ``save_freq`` batches) the callback
writes a backup into ``backup_dir``: the model's weights, the optimizer's
state, the random streams' states and the number of epochs finished, in
ONE model file written atomically (``saving.save_model`` with a
``training_state``), so a kill at any moment leaves either the previous
backup or the new one.  When ``fit`` starts and a backup exists, the
callback restores it into the model and tells the loop to start at the
saved epoch (``model._initial_epoch``, which ``fit`` reads after
``on_train_begin``, as in Keras).  A batch-level backup resumes at the
start of the epoch it was taken in, with the weights it holds (Keras'
rule).  When ``fit`` completes, the backup is deleted
(``delete_checkpoint=True``); an interrupted ``fit`` (an exception, a
kill) never reaches that point, so the backup stays for the next run.
Unlike Keras, which removes the whole ``backup_dir``, only the files the
callback wrote are deleted (and the folder, if that leaves it empty).
"""

from __future__ import annotations

import contextlib
import os

from theanine.frontend import saving
from theanine.frontend.callbacks import Callback

__all__ = ["BackupAndRestore"]

BACKUP_NAME = "latest.theanine"


class BackupAndRestore(Callback):
    """Back up the training state into ``backup_dir`` and restore it when ``fit`` restarts."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq <= 0
        ):
            raise ValueError(
                "Invalid value for argument `save_freq`. Expected either 'epoch' or a positive "
                f"integer value. Received: save_freq={save_freq!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint = save_freq, bool(delete_checkpoint)
        self.backup_path = os.path.join(self.backup_dir, BACKUP_NAME)
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch = -1

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call "
                f"`fit()`. Model {self.model.name!r} is unbuilt. You can build it beforehand by "
                "calling it on a batch of data"
            )
        self._batches_since_save, self._last_batch = 0, -1
        if os.path.exists(self.backup_path):
            state = saving.restore_training_state(self.model, self.backup_path)
            self._current_epoch = int(state.get("epoch", 0))
            self.model._initial_epoch = self._current_epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # batch callbacks run once per execution (steps_per_execution): count the batches
        new_batches = batch + 1 if batch <= self._last_batch else batch - self._last_batch
        self._last_batch = batch
        self._batches_since_save += new_batches
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(batch)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch, self._last_batch = epoch + 1, -1
        if self.save_freq == "epoch":
            self._save(None)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.backup_path)
        with contextlib.suppress(OSError):  # not empty: other files are the user's
            os.rmdir(self.backup_dir)

    def _save(self, batch: int | None) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_model(
            self.model, self.backup_path, training_state={"epoch": self._current_epoch,
                                                          "batch": batch}
        )

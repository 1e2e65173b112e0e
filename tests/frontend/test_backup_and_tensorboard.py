"""callbacks.BackupAndRestore (resume an interrupted fit) and callbacks.TensorBoard (event files
read back with TensorBoard's own reader)."""

import os

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from theanine.frontend import callbacks, layers, models, optimizers


def _model(seed=0):
    rng = np.random.default_rng(seed)
    model = models.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"),
                               layers.Dropout(0.3, seed=5), layers.Dense(1)])
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True).astype("float32")


class Interrupt(callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_an_interrupted_fit_exactly(tmp_path):
    x, y = _data()
    reference = _model()
    reference.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    backup_dir = tmp_path / "backup"
    first = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(backup_dir), Interrupt(2)])
    assert os.listdir(backup_dir) == ["latest.theanine"]  # kept: fit did not complete

    resumed = _model(seed=7)  # other weights and a fresh optimizer: all come from the backup
    history = resumed.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(backup_dir)])
    assert history.epoch == [2, 3]  # starts at the epoch it stopped at
    for a, b in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_array_equal(
        resumed.optimizer.iterations.numpy(), reference.optimizer.iterations.numpy()
    )
    assert not backup_dir.exists()  # deleted once fit completed (delete_checkpoint=True)


def test_batch_level_backups_restart_the_epoch_they_were_taken_in(tmp_path):
    x, y = _data()  # 3 batches of 16 per epoch
    backup = callbacks.BackupAndRestore(tmp_path / "b", save_freq=2, delete_checkpoint=False)
    with pytest.raises(RuntimeError):
        _model().fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                     callbacks=[backup, Interrupt(2)])
    # backups after batches 2, 4 and 6; the last one during epoch 1 (0-based), after 6 steps
    resumed = _model(seed=3)
    history = resumed.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(tmp_path / "b")])
    assert history.epoch == [1, 2, 3]
    assert resumed.optimizer.iterations.numpy() == 6 + 3 * 3


def test_backup_and_restore_arguments_and_unbuilt_models(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="Invalid value for argument `save_freq`"):
        callbacks.BackupAndRestore(tmp_path, save_freq="batch")
    model = models.Sequential([layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = callbacks.BackupAndRestore(tmp_path)
    backup.set_model(model)
    with pytest.raises(ValueError, match="your model must be built before you call `fit\\(\\)`"):
        backup.on_train_begin()


def _scalars(path):
    events = EventAccumulator(str(path))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def test_tensorboard_writes_keras_epoch_and_batch_scalars(tmp_path):
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
                        callbacks=[callbacks.TensorBoard(tmp_path, update_freq="batch")]).history
    train, validation = _scalars(tmp_path / "train"), _scalars(tmp_path / "validation")
    assert sorted(train) == ["batch_loss", "batch_mae", "epoch_learning_rate", "epoch_loss",
                             "epoch_mae"]
    assert [s for s, _ in train["epoch_loss"]] == [0, 1]
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.01, 0.01],
                               rtol=1e-6)
    assert [s for s, _ in train["batch_loss"]] == [1, 2, 3, 4, 5, 6]  # 3 batches per epoch
    # fit's validation runs the test hooks, as Keras 3's fit calls evaluate with the callbacks
    assert sorted(validation) == ["epoch_loss", "epoch_mae", "evaluation_loss_vs_iterations",
                                  "evaluation_mae_vs_iterations"]
    np.testing.assert_allclose([v for _, v in validation["epoch_mae"]], history["val_mae"],
                               rtol=1e-6)
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [3, 6]


def test_tensorboard_every_n_batches_evaluate_and_options(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[callbacks.TensorBoard(tmp_path / "a", update_freq=4)])
    assert [s for s, _ in _scalars(tmp_path / "a" / "train")["batch_loss"]] == [4]
    logs = model.evaluate(x, y, verbose=0, return_dict=True,
                          callbacks=[callbacks.TensorBoard(tmp_path / "b")])
    evaluation = _scalars(tmp_path / "b" / "validation")
    assert evaluation["evaluation_loss_vs_iterations"] == [(6, pytest.approx(logs["loss"]))]
    with pytest.raises(ValueError, match="writes scalars only"):
        callbacks.TensorBoard(tmp_path, histogram_freq=1)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        callbacks.TensorBoard(tmp_path, colour="red")
    with pytest.raises(ValueError, match="update_freq must be"):
        callbacks.TensorBoard(tmp_path, update_freq=0)

"""Callbacks with Keras semantics, driven by real fits."""

import csv

import numpy as np
import pytest

from theanine.frontend import callbacks, layers, models, optimizers


def _model(lr=0.1):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizers.SGD(lr), "mse")
    return model


def _data(rng, n=20):
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, (x @ np.array([[2.0], [-1.0]], "float32")).astype("float32")


class Scripted(callbacks.Callback):
    """Replace the logs of each epoch by a scripted value of ``name``."""

    def __init__(self, name, values):
        super().__init__()
        self.name, self.values = name, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = self.values[epoch]


def test_history_records_every_epoch(rng):
    history = _model().fit(*_data(rng), epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2] and len(history.history["loss"]) == 3


def test_early_stopping_stops_after_patience_and_restores_best_weights(rng):
    model = _model()
    weights_per_epoch = []
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights_per_epoch.append(model.get_weights())
    )
    stopper = callbacks.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    scores = [5.0, 3.0, 4.0, 3.5, 1.0, 0.5]
    history = model.fit(
        *_data(rng), epochs=6, verbose=0, callbacks=[Scripted("score", scores), record, stopper]
    )
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for restored, best in zip(model.get_weights(), weights_per_epoch[1], strict=True):
        np.testing.assert_array_equal(restored, best)


def test_early_stopping_mode_and_min_delta(rng):
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.1, patience=1)
    model = _model()
    history = model.fit(
        *_data(rng),
        epochs=5,
        verbose=0,
        callbacks=[Scripted("val_accuracy", [0.5, 0.55, 0.58, 0.9, 1.0]), stopper],
    )
    assert stopper.watch.mode == "max" and history.epoch == [0, 1]
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        callbacks.EarlyStopping(mode="up")


def test_model_checkpoint_saves_only_improvements(rng, tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}.theanine")
    checkpoint = callbacks.ModelCheckpoint(pattern, monitor="score", save_best_only=True)
    _model().fit(
        *_data(rng),
        epochs=4,
        verbose=0,
        callbacks=[Scripted("score", [3.0, 2.0, 2.5, 1.0]), checkpoint],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-01.theanine",
        "ckpt-02.theanine",
        "ckpt-04.theanine",
    ]
    restored = models.load_model(tmp_path / "ckpt-04.theanine")
    assert restored.layers[0].kernel.get_value().shape == (2, 1)


def test_model_checkpoint_weights_only(rng, tmp_path):
    model = _model()
    path = tmp_path / "w.weights"
    model.fit(
        *_data(rng),
        epochs=1,
        verbose=0,
        callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)],
    )
    other = _model()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau(rng):
    model = _model(lr=0.1)
    reduce = callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, min_lr=0.02)
    rates = []
    watch = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: rates.append(model.optimizer.learning_rate)
    )
    model.fit(
        *_data(rng), epochs=7, verbose=0, callbacks=[Scripted("score", [1.0] * 7), reduce, watch]
    )
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02], rtol=1e-6)


def test_learning_rate_scheduler_sets_the_rate_without_recompiling(rng):
    model = _model(lr=0.1)
    seen = []
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    watch = callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate)
    )
    model.fit(*_data(rng), epochs=3, verbose=0, callbacks=[scheduler, watch])
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    model.optimizer.learning_rate = 0.0
    before = model.get_weights()
    model.fit(*_data(rng), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_csv_logger_writes_a_row_per_epoch(rng, tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data(rng)
    _model().fit(
        x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)]
    )
    _model().fit(
        x,
        y,
        epochs=1,
        verbose=0,
        validation_split=0.25,
        callbacks=[callbacks.CSVLogger(path, append=True)],
    )
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "0"] and set(rows[0]) == {
        "epoch",
        "loss",
        "val_loss",
    }
    assert float(rows[1]["loss"]) > 0


def test_terminate_on_nan(rng, capsys):
    model = _model(lr=1e30)
    x, y = _data(rng)
    with np.errstate(all="ignore"):
        history = model.fit(
            x * 1e10, y, batch_size=5, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
        )
    assert history.epoch == [0] and "terminating training" in capsys.readouterr().out


def test_lambda_callback_hooks_and_unknown_hook(rng):
    events = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(epoch),
        on_train_end=lambda logs: events.append("end"),
    )
    _model().fit(*_data(rng), epochs=2, verbose=0, callbacks=[hooks])
    assert events == ["begin", 0, 1, "end"]
    with pytest.raises(TypeError, match=r"unknown hook\(s\) \['on_epoch_finish'\]"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_logs_added_by_callbacks_reach_history_and_the_progress_bar(rng, capsys):
    model = _model(lr=0.1)
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(
        *_data(rng), epochs=3, verbose=2, callbacks=[scheduler, Scripted("score", [3, 2, 1])]
    )
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    assert history.history["score"] == [3, 2, 1]
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(" - learning_rate: 0.1000 - score: 3.0000")


def test_reduce_lr_on_plateau_logs_the_rate_each_epoch_trained_with(rng):
    model = _model(lr=0.1)
    reduce = callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, min_lr=0.02)
    history = model.fit(
        *_data(rng), epochs=7, verbose=0, callbacks=[Scripted("score", [1.0] * 7), reduce]
    )
    np.testing.assert_allclose(
        history.history["learning_rate"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-6
    )
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_a_history_passed_by_the_user_is_the_one_fit_fills(rng):
    history = callbacks.History()
    model = _model()
    returned = model.fit(*_data(rng), epochs=2, verbose=0, callbacks=[history])
    assert returned is history and model.history is history and history.epoch == [0, 1]
    model.fit(*_data(rng), epochs=1, verbose=0, callbacks=[history])
    assert history.epoch == [0] and len(history.history["loss"]) == 3


def _tiny_model():
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizers.SGD(0.01), "mse")
    return model


def test_on_batch_end_is_the_train_batch_hook_and_checkpoints_every_n_batches(tmp_path):
    """The training guide's LossHistory (on_batch_end) and ModelCheckpoint(save_freq=N)."""
    class LossHistory(callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    x, y = np.random.rand(40, 3).astype("float32"), np.random.rand(40, 1).astype("float32")
    model, history = _tiny_model(), LossHistory()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.keras"), save_freq=3)
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[history, checkpoint], verbose=0)
    assert len(history.per_batch_losses) == 10 and all(np.isfinite(history.per_batch_losses))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1-3.keras", "m-2-1.keras", "m-2-4.keras"]
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive number of batches"):
        callbacks.ModelCheckpoint("m.keras", save_freq="batch")


def test_checkpoint_initial_value_threshold(tmp_path):
    x, y = np.random.rand(16, 3).astype("float32"), np.random.rand(16, 1).astype("float32")
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="loss", save_best_only=True,
                                           initial_value_threshold=0.0)
    _tiny_model().fit(x, y, epochs=2, callbacks=[checkpoint], verbose=0)
    assert not (tmp_path / "best.keras").exists()  # a loss never improves on 0


def test_hook_order_and_logs_as_in_the_custom_callbacks_guide():
    """fit's validation runs the test hooks; on_train_end gets the last epoch's logs; predict's
    batch logs hold the batch's ``outputs``."""
    calls = []

    class Recorder(callbacks.Callback):
        pass

    for hook in ("train_begin", "train_end", "test_begin", "test_end", "predict_begin", "predict_end"):
        setattr(Recorder, f"on_{hook}", lambda self, logs=None, hook=hook: calls.append((hook, sorted(logs or {}))))
    for hook in ("epoch_begin", "epoch_end", "train_batch_end", "test_batch_end", "predict_batch_end"):
        setattr(Recorder, f"on_{hook}",
                lambda self, i, logs=None, hook=hook: calls.append((hook, i, sorted(logs or {}))))
    x, y = np.random.rand(8, 3).astype("float32"), np.random.rand(8, 1).astype("float32")
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizers.SGD(0.01), "mse", metrics=["mae"])
    model.fit(x, y, batch_size=2, epochs=1, validation_split=0.5, callbacks=[Recorder()], verbose=0)
    epoch_keys = ["loss", "mae", "val_loss", "val_mae"]
    assert calls == [
        ("train_begin", []), ("epoch_begin", 0, []),
        ("train_batch_end", 0, ["loss", "mae"]), ("train_batch_end", 1, ["loss", "mae"]),
        ("test_begin", []), ("test_batch_end", 0, ["loss", "mae"]), ("test_batch_end", 1, ["loss", "mae"]),
        ("test_end", ["loss", "mae"]), ("epoch_end", 0, epoch_keys), ("train_end", epoch_keys),
    ]
    calls.clear()
    outputs = []
    Recorder.on_predict_batch_end = lambda self, i, logs=None: outputs.append(logs["outputs"])
    predictions = model.predict(x, batch_size=4, callbacks=[Recorder()], verbose=0)
    assert np.array_equal(np.concatenate(outputs), predictions) and calls[0] == ("predict_begin", [])

"""Restoring and saving that fail leave the model and the files as they were.

``restore_training_state`` (what ``BackupAndRestore`` resumes with) used to
assign the file's weights, then fail on an optimizer state that did not fit,
leaving the model half restored; saving over a directory or into a folder
that does not exist failed naming the atomic writer's temporary file.
"""

import os

import numpy as np
import pytest

from theanine.frontend import callbacks, layers, models, optimizers, saving
from theanine.frontend.backup_and_restore import BACKUP_NAME

X = np.random.default_rng(0).normal(size=(12, 4)).astype("float32")
Y = np.arange(12) % 3


def _model(optimizer):
    m = models.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return m


def _state(model):
    return [w.copy() for w in model.get_weights()] + [v.copy() for v in model.optimizer.get_variable_values()]


def _assert_same(before, after):
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.fixture(scope="module")
def adam_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "adam.theanine"
    m = _model("adam")
    m.fit(X, Y, verbose=0)
    m.save(path)
    return path


def test_a_restore_whose_optimizer_state_does_not_fit_changes_nothing(adam_file):
    m = _model(optimizers.SGD(momentum=0.9))
    m.fit(X, Y, verbose=0)
    before = _state(m)
    with pytest.raises(ValueError, match=r"sgd has 4 state variables .* but 6 values were given"):
        saving.restore_training_state(m, adam_file)
    _assert_same(before, _state(m))


def test_backup_and_restore_into_another_optimizer_fails_before_training(adam_file, tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / BACKUP_NAME).write_bytes(adam_file.read_bytes())
    m = _model(optimizers.SGD(momentum=0.9))
    m.fit(X, Y, verbose=0)
    before = _state(m)
    with pytest.raises(ValueError, match="state variables"):
        m.fit(X, Y, epochs=2, callbacks=[callbacks.BackupAndRestore(backup_dir=str(backup))], verbose=0)
    _assert_same(before, _state(m))


@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_saving_over_a_directory_names_it_and_writes_nothing(tmp_path, method):
    m = _model("sgd")
    target = tmp_path / ("m.theanine" if method == "save" else "m.weights.theanine")
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=r"cannot save a model file over a directory: '.*m\.\w+(\.theanine)?'"):
        getattr(m, method)(target)
    assert os.listdir(tmp_path) == [target.name] and os.listdir(target) == []


def test_saving_into_a_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder to save in does not exist: '.*missing'"):
        _model("sgd").save(tmp_path / "missing" / "m.theanine")
    assert os.listdir(tmp_path) == []


def test_a_refused_write_names_the_target_and_keeps_the_old_file(tmp_path, monkeypatch):
    m = _model("sgd")
    target = tmp_path / "m.theanine"
    m.save(target)
    good = target.read_bytes()

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".m.theanine.tmp-1-1"))

    monkeypatch.setattr(saving, "atomic_write", refuse)
    with pytest.raises(PermissionError, match=r"\[Errno 13\] cannot save '.*m\.theanine': Permission denied"):
        m.save(target)
    assert target.read_bytes() == good and os.listdir(tmp_path) == ["m.theanine"]

"""The main job: ``python -m theanine`` trains the digits CNN (or, with ``--model mlp``, the MLP) and saves it."""

import subprocess
import sys

import numpy as np

from theanine import __main__ as main_module
from theanine.frontend import datasets, models


def test_digits_data_ships_with_the_package_and_splits_deterministically():
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data()
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert (
        x_train.min() == 0.0 and x_train.max() == 1.0 and set(np.unique(y_test)) == set(range(10))
    )
    (again, _), _ = datasets.digits.load_data()
    np.testing.assert_array_equal(again, x_train)
    (other, _), _ = datasets.digits.load_data(seed=1)
    assert not np.array_equal(other, x_train)
    (images, _), _ = datasets.digits.load_data(flatten=False)
    assert images.shape == (1438, 8, 8)


def _run_main(tmp_path, capsys, *options):
    output = tmp_path / "digits.theanine"
    assert main_module.main(["--output", str(output), "--verbose", "2", *options]) == 0
    text = capsys.readouterr().out
    assert (
        "Epoch 1/20" in text and "time per epoch: " in text and f"model saved to {output}" in text
    )
    return float(text.split("test accuracy: ")[1].split()[0]), models.load_model(output), text


def test_default_digits_cnn_reaches_98_5_percent(tmp_path, capsys):
    accuracy, restored, text = _run_main(tmp_path, capsys)
    assert accuracy >= 0.985, text
    assert "training the digits CNN" in text
    assert any(type(layer).__name__ == "Conv2D" for layer in restored.layers)
    (_, _), (x_test, y_test) = datasets.digits.load_data(flatten=False)
    predicted = restored.predict(x_test[..., None], verbose=0).argmax(axis=1)
    assert abs((predicted == y_test).mean() - accuracy) < 1e-4


def test_digits_mlp_reaches_97_percent(tmp_path, capsys):
    accuracy, restored, text = _run_main(tmp_path, capsys, "--model", "mlp")
    assert accuracy >= 0.97, text
    assert "training the digits MLP" in text
    (_, _), (x_test, y_test) = datasets.digits.load_data()
    predicted = restored.predict(x_test, verbose=0).argmax(axis=1)
    assert abs((predicted == y_test).mean() - accuracy) < 1e-4


def test_python_dash_m_theanine_runs(tmp_path):
    output = tmp_path / "m.theanine"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "theanine",
            "--epochs",
            "1",
            "--output",
            str(output),
            "--verbose",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Epoch 1/1" in result.stdout and "[==============================]" in result.stdout
    assert "test accuracy: " in result.stdout and output.exists()

"""``theanine.frontend`` exposes its submodules as attributes without loading them up front."""

import importlib
import subprocess
import sys

import pytest

import theanine.frontend as fe


@pytest.mark.parametrize("name", fe.SUBMODULES)
def test_each_submodule_is_an_attribute(name):
    assert getattr(fe, name) is importlib.import_module(f"theanine.frontend.{name}")
    assert name in dir(fe)


def test_keras_style_access_through_the_package():
    model = fe.models.Sequential([fe.layers.Input(shape=(2,)), fe.layers.Dense(1)])
    model.compile(fe.optimizers.SGD(0.1), fe.losses.MeanSquaredError())
    assert model.metrics_names == ["loss"]


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match=r"'theanine.frontend' has no attribute 'keras'"):
        fe.keras  # noqa: B018


def test_importing_theanine_or_the_package_loads_no_frontend_module():
    code = (
        "import sys, theanine, theanine.frontend\n"
        "print(sorted(m for m in sys.modules if m.startswith('theanine.frontend.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_keras_top_level_names():
    """``keras.Sequential``, ``keras.Model``, ``keras.Input``, ``keras.Layer``, ``keras.Variable``."""
    assert fe.Sequential is fe.models.Sequential and fe.Model is fe.models.Model
    assert fe.Input is fe.layers.Input and fe.Layer is fe.layers.Layer
    assert fe.Variable is importlib.import_module("theanine.frontend.variables").Variable
    assert {"Sequential", "Model", "Input", "ops"} <= set(dir(fe))
    model = fe.Sequential([fe.Input(shape=(4,)), fe.layers.Dense(2)])
    assert model.output_shape == (None, 2) and model.input_shape == (None, 4)


def test_th_keras_is_the_frontend():
    import theanine as th

    assert th.keras is fe and th.keras.layers is fe.layers and th.keras.Sequential is fe.models.Sequential

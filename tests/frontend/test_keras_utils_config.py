"""``keras.utils``, ``keras.config`` and ``keras.backend`` names beyond the core: data helpers, image
files, Progbar, Config, registry lookups, settings that cap and shape fit, and dtype promotion."""

import io
import json
import warnings

import numpy as np
import pytest

import theanine as th
import theanine.frontend as keras
from theanine.frontend import backend, callbacks, layers, models, optimizers, utils


def _model():
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizers.SGD(0.1), "mse")
    return model


def _data(n=40):
    x = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- data utilities


def test_split_dataset_sizes_structures_and_shuffle():
    x, y = np.arange(10), np.arange(10) * 10
    left, right = utils.split_dataset((x, y), left_size=0.8)
    assert isinstance(left, tuple)
    np.testing.assert_array_equal(left[0], np.arange(8))
    np.testing.assert_array_equal(right[1], [80, 90])
    left, right = utils.split_dataset(x, left_size=3, right_size=2)
    np.testing.assert_array_equal(left, [0, 1, 2])
    np.testing.assert_array_equal(right, [8, 9])
    left, right = utils.split_dataset({"a": x}, right_size=0.3, shuffle=True, seed=1)
    again = utils.split_dataset({"a": x}, right_size=0.3, shuffle=True, seed=1)
    np.testing.assert_array_equal(left["a"], again[0]["a"])
    assert sorted([*left["a"], *right["a"]]) == list(range(10)) and len(right["a"]) == 3
    with pytest.raises(ValueError, match="give left_size or right_size"):
        utils.split_dataset(x)
    with pytest.raises(ValueError, match=r"a float left_size must be in \(0, 1\)"):
        utils.split_dataset(x, left_size=1.5)
    with pytest.raises(ValueError, match="same first dimension"):
        utils.split_dataset((x, y[:5]), left_size=2)


def test_timeseries_windows_targets_and_batches():
    data = np.arange(20)
    targets = data * 100
    dataset = utils.timeseries_dataset_from_array(data, targets, sequence_length=4, sequence_stride=3,
                                                  sampling_rate=2, batch_size=2, start_index=1, end_index=15)
    windows, labels = zip(*[dataset[i] for i in range(len(dataset))], strict=True)
    windows, labels = np.concatenate(windows), np.concatenate(labels)
    # positions p = 0, 3, 6 (count = 15 - 1 - 3 * 2 = 8); window p reads data[1 + p + 2k], k < 4
    np.testing.assert_array_equal(windows, [[1, 3, 5, 7], [4, 6, 8, 10], [7, 9, 11, 13]])
    np.testing.assert_array_equal(labels, [100, 400, 700])
    assert len(dataset) == 2 and isinstance(dataset, utils.PyDataset)
    shuffled = utils.timeseries_dataset_from_array(data, None, 5, batch_size=None, shuffle=True, seed=3)
    assert len(shuffled) == 1 and sorted(shuffled[0][:, 0]) == list(range(16))
    with pytest.raises(ValueError, match="sequence_length must be a positive int"):
        utils.timeseries_dataset_from_array(data, None, 0)


def test_timeseries_dataset_trains_a_model():
    series = np.sin(np.arange(60) / 5).astype("float32")[:, None]
    dataset = utils.timeseries_dataset_from_array(series[:-3], series[3:, 0], sequence_length=3, batch_size=16)
    model = models.Sequential([layers.Input(shape=(3, 1)), layers.Flatten(), layers.Dense(1)])
    model.compile(optimizers.SGD(0.05), "mse")
    history = model.fit(dataset, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()


def test_pack_unpack_and_normalize():
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert utils.pack_x_y_sample_weight(x) is x and utils.pack_x_y_sample_weight([x]) == ([x],)
    assert utils.unpack_x_y_sample_weight(utils.pack_x_y_sample_weight(x, y, w)) == (x, y, w)
    assert utils.unpack_x_y_sample_weight((x, y)) == (x, y, None) and utils.unpack_x_y_sample_weight(x)[1] is None
    with pytest.raises(ValueError, match="a batch must be x"):
        utils.unpack_x_y_sample_weight((x, y, w, w))
    m = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(m), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(m, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])


# ----------------------------------------------------------------------------- images


def test_image_arrays_round_trip_through_files(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(6, 5, 3)).astype("float32")
    assert utils.img_to_array(pixels[:, :, 0]).shape == (6, 5, 1)
    assert utils.img_to_array(pixels, data_format="channels_first").shape == (3, 6, 5)
    image = utils.array_to_img(pixels, scale=False)
    assert image.size == (5, 6) and image.mode == "RGB"
    np.testing.assert_array_equal(utils.img_to_array(image), pixels)
    path = tmp_path / "image.png"
    utils.save_img(path, pixels, scale=False)
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(path)), pixels)
    gray = utils.img_to_array(utils.load_img(path, color_mode="grayscale", target_size=(3, 4)))
    assert gray.shape == (3, 4, 1)
    scaled = utils.img_to_array(utils.array_to_img(np.linspace(0, 1, 30).reshape(5, 6, 1)))
    assert scaled.min() == 0 and scaled.max() == 255
    with pytest.raises(ValueError, match="unsupported channel count 2"):
        utils.array_to_img(np.zeros((2, 2, 2)))


def test_image_utilities_name_the_extra_without_pillow(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_pillow(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pillow)
    with pytest.raises(ImportError, match=r"theanine\[image\]"):
        utils.array_to_img(np.zeros((2, 2, 3)))
    assert utils.img_to_array(np.zeros((2, 2))).shape == (2, 2, 1)  # arrays need no Pillow


# ----------------------------------------------------------------------------- Progbar and Config


def test_progbar_averages_value_pairs_and_keeps_stateful_ones():
    stream = io.StringIO()
    bar = utils.Progbar(4, verbose=2, stream=stream, stateful_metrics=["lr"])
    bar.update(1, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 2.0), ("lr", 0.2)])
    bar.add(1, [("loss", 4.0), ("lr", 0.3)])
    assert stream.getvalue().rstrip().endswith("loss: 2.2500 - lr: 0.3000")  # (1 + 2*2 + 4) / 4


def test_config_object():
    config = utils.Config(learning_rate=0.1)
    config.seed = 3
    config["momentum"] = 0.9
    assert config.seed == 3 and config["learning_rate"] == 0.1 and "momentum" in config and len(config) == 3
    assert json.loads(config.to_json()) == {"learning_rate": 0.1, "seed": 3, "momentum": 0.9}
    config.freeze()
    with pytest.raises(ValueError, match="frozen"):
        config.seed = 4
    with pytest.raises(AttributeError, match="Unknown attribute: 'missing'"):
        config.missing  # noqa: B018
    config.unfreeze()
    config.update(seed=5)
    assert config.as_dict()["seed"] == 5


# ----------------------------------------------------------------------------- registry and tensors


def test_registered_names_and_objects():
    @utils.register_keras_serializable(package="surface")
    def doubled(x):
        return 2 * x

    assert utils.get_registered_name(doubled) == "surface>doubled"
    assert utils.get_registered_object("surface>doubled") is doubled
    assert keras.saving.get_registered_object("mine", custom_objects={"mine": len}) is len
    assert utils.get_registered_object("other", module_objects={"other": abs}) is abs
    assert utils.get_registered_object("nothing") is None
    with utils.CustomObjectScope({"scoped": max}):
        assert utils.get_registered_object("scoped") is max
    restored = utils.deserialize_keras_object(utils.serialize_keras_object(keras.initializers.HeNormal(seed=2)))
    assert isinstance(restored, keras.initializers.HeNormal) and restored.seed == 2


def test_keras_tensors_and_source_inputs():
    inputs = layers.Input(shape=(3,))
    other = layers.Input(shape=(2,))
    outputs = layers.Dense(2)(inputs) + 1.0
    assert utils.is_keras_tensor(outputs) and not utils.is_keras_tensor(np.ones(3))
    assert not backend.is_keras_tensor(th.shared(np.ones(2))) and not backend.is_keras_tensor(th.constant(1.0))
    assert utils.get_source_inputs(outputs) == [inputs]
    assert utils.get_source_inputs(outputs + other) == [inputs, other]


# ----------------------------------------------------------------------------- settings


def test_settings_round_trip_and_validate():
    with th.config.context():
        keras.config.set_epsilon(1e-5)
        assert keras.config.epsilon() == 1e-5 and keras.backend.epsilon() == 1e-5
        keras.config.set_image_data_format("channels_first")
        assert keras.config.image_data_format() == "channels_first"
        x = np.random.default_rng(2).normal(size=(1, 2, 4, 4)).astype("float32")
        assert keras.ops.average_pool(x, 2, 2).shape == (1, 2, 2, 2)  # data_format=None reads the setting
        conv = layers.Conv2D(3, 3)  # so do the layers' defaults
        assert conv.data_format == "channels_first" and conv(x).shape == (1, 3, 2, 2)
        assert layers.MaxPooling2D().get_config()["data_format"] == "channels_first"
        keras.config.disable_traceback_filtering()
        keras.config.disable_flash_attention()
        assert not keras.config.is_traceback_filtering_enabled() and keras.config.is_flash_attention_enabled() is False
        keras.config.enable_flash_attention()
        assert keras.config.is_flash_attention_enabled() is None and not keras.config.is_nnx_enabled()
        with pytest.raises(ValueError, match="image_data_format must be one of"):
            keras.config.set_image_data_format("nhwc")
        with pytest.raises(ValueError, match="keras_epsilon must be a positive float"):
            keras.config.set_epsilon(0)
        with pytest.raises(ValueError, match="max_epochs must be None"):
            keras.config.set_max_epochs(0)
    assert keras.config.epsilon() == 1e-7 and keras.config.image_data_format() == "channels_last"


def test_dtype_policy_and_backend_switch():
    with th.config.context():
        keras.config.set_dtype_policy("float64")
        assert keras.config.dtype_policy().compute_dtype == "float64" and keras.config.floatx() == "float64"
        assert layers.Dense(2).dtype == "float64"
        with pytest.raises(NotImplementedError, match="one float dtype"):
            keras.config.set_dtype_policy("mixed_float16")
    keras.config.set_backend("theanine")
    with pytest.raises(ValueError, match="runs on theanine only"):
        keras.config.set_backend("jax")


def test_max_epochs_and_max_steps_cap_fit_evaluate_predict():
    x, y = _data(40)
    model = _model()
    steps = []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    with th.config.context(max_epochs=2, max_steps_per_epoch=3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(x, y, batch_size=5, epochs=5, verbose=0, callbacks=[counter])
        assert sorted(str(w.message).split(" (")[0] for w in caught) == [
            "Limiting epochs to 2", "Limiting steps_per_epoch to 3"]
        assert len(history.history["loss"]) == 2 and steps == [0, 1, 2, 0, 1, 2]
        with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
            assert model.predict(x, batch_size=5, verbose=0).shape == (15, 1)
    assert model.predict(x, batch_size=5, verbose=0).shape == (40, 1)
    assert keras.config.max_epochs() is None and keras.config.max_steps_per_epoch() is None


def test_interactive_logging_off_prints_a_line_per_epoch(capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    x, y = _data(20)
    model = _model()
    with th.config.context():
        keras.utils.disable_interactive_logging()
        assert not keras.config.is_interactive_logging_enabled()
        model.fit(x, y, batch_size=5, epochs=2)
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
        assert lines[1].startswith("4/4 - ") and "[" not in lines[1]
        stream = Terminal()
        bar = utils.Progbar(4, stream=stream, interval=0.0)  # verbose=1 on a terminal: still one line
        bar.update(2, {"loss": 0.5})
        bar.update(4, {"loss": 0.25})
        assert "\r" not in stream.getvalue() and stream.getvalue().count("\n") == 1
    assert keras.config.is_interactive_logging_enabled()


# ----------------------------------------------------------------------------- backend helpers

PROMOTIONS = [  # checked against keras.backend.result_type (Keras 3.15) before its 64-to-32-bit narrowing
    (("int32", "float32"), "float32"), (("int64", "float16"), "float16"), (("uint8", "int8"), "int16"),
    (("uint32", "int32"), "int64"), (("uint64", "int8", "float16"), "float16"), (("uint64", "int64"), "float32"),
    (("float16", "bfloat16"), "float32"), (("bool", int), "int32"), (("int8", int), "int8"),
    (("int32", float), "float32"), (("bfloat16", float), "bfloat16"), (("float64", "complex64"), "complex128"),
    ((int, float), "float32"), ((), "float32"), (("float64", "int64"), "float64"),
]


@pytest.mark.parametrize("dtypes, expected", PROMOTIONS)
def test_result_type_follows_keras_promotion(dtypes, expected):
    with th.config.context(floatX="float32"):
        assert backend.result_type(*dtypes) == expected


def test_dtype_helpers_and_uids():
    assert backend.standardize_dtype(None) == th.config.floatX and backend.standardize_dtype(int) == "int32"
    assert backend.standardize_dtype(np.float64) == "float64"
    assert backend.standardize_dtype(np.dtype("int16")) == "int16"
    assert utils.standardize_dtype("double") == "float64"
    with pytest.raises(ValueError, match="Invalid dtype: 'float128'"):
        backend.standardize_dtype("float128")
    assert backend.is_float_dtype("bfloat16") and not backend.is_float_dtype("int8")
    assert backend.is_int_dtype("uint16") and not backend.is_int_dtype("bool")
    backend.clear_session()
    assert [backend.get_uid("dense"), backend.get_uid("dense"), backend.get_uid("conv")] == [1, 2, 1]
    utils.clear_session()
    assert backend.get_uid("dense") == 1


def test_models_save_model(tmp_path):
    model = _model()
    path = tmp_path / "model.keras"
    models.save_model(model, path)
    x, _ = _data(4)
    np.testing.assert_allclose(models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(FileExistsError, match="overwrite=False"):
        models.save_model(model, path, overwrite=False)

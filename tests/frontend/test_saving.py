"""Saving and loading: one safe file, identical predictions, resumable training, clear errors."""

import json
import os
import zipfile

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models, optimizers, saving


def _digits_like(rng, n=64):
    x = rng.uniform(size=(n, 8)).astype("float32")
    return x, (x[:, :4].sum(axis=1) > x[:, 4:].sum(axis=1)).astype("int64")


def _model(seed=5):
    th.set_seed(seed)
    model = models.Sequential(
        [
            layers.Input(shape=(8,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_round_trip_gives_bit_identical_predictions_and_config(rng, tmp_path):
    model = _model()
    x, y = _digits_like(rng)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.theanine"
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.get_config() == model.get_config()
    assert [w.name for w in restored.weights] == [w.name for w in model.weights]
    assert restored.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_resumed_training_equals_uninterrupted_training(rng, tmp_path):
    x, y = _digits_like(rng)
    uninterrupted = _model()
    uninterrupted.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    first_half = _model()
    first_half.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "half.theanine"
    first_half.save(path)
    resumed = models.load_model(path)
    assert resumed.optimizer.get_config() == first_half.optimizer.get_config()
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    iterations = resumed.optimizer.iterations.get_value()
    assert iterations == uninterrupted.optimizer.iterations.get_value() == 16


def test_functional_multi_output_and_nested_models_round_trip(rng, tmp_path):
    inner = models.Sequential(
        [layers.Input(shape=(3,)), layers.Dense(4, activation="tanh")], name="inner"
    )
    a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(3,), name="b")
    shared = layers.Dense(2, name="shared")
    model = models.Model([a, b], {"left": shared(inner(a)), "right": shared(inner(b))})
    model.compile("sgd", {"left": "mse", "right": "mse"})
    path = tmp_path / "f.theanine"
    model.save(path)
    restored = models.load_model(path)
    xs = [rng.normal(size=(5, 3)).astype("float32") for _ in range(2)]
    expected, got = model.predict(xs, verbose=0), restored.predict(xs, verbose=0)
    assert sorted(got) == ["left", "right"]
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    assert len(restored.weights) == 4


class Scale(layers.Layer):
    """A custom layer: multiplies by a learned vector."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs, training=None):
        return inputs * self.scale


def test_custom_layers_need_custom_objects(rng, tmp_path):
    model = models.Sequential([layers.Input(shape=(3,)), Scale(), layers.Dense(1)])
    model.layers[0].set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    path = tmp_path / "custom.theanine"
    model.save(path)
    with pytest.raises(
        ValueError, match=rf"cannot load '{path}'.*unknown layer class 'Scale'.*custom_objects"
    ):
        models.load_model(path)
    restored = models.load_model(path, custom_objects={"Scale": Scale})
    x = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclassed_model_round_trip(rng, tmp_path):
    class Net(models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(4, activation="relu")
            self.out = layers.Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    model = Net()
    model.compile("adam", "mse")
    x = rng.normal(size=(8, 5)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    path = tmp_path / "sub.theanine"
    model.save(path)
    restored = models.load_model(path, custom_objects={"Net": Net})
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def _rewrite_member(path, name, transform):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = transform(members[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in members.items():
            archive.writestr(n, data)


def test_unknown_class_in_the_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.theanine"
    _model().save(path)

    def rename_class(data):
        description = json.loads(data)
        description["model"]["config"]["layers"][0]["class_name"] = "os.system"
        return json.dumps(description).encode()

    _rewrite_member(path, "model.json", rename_class)
    with pytest.raises(ValueError, match=r"unknown layer class 'os.system'"):
        models.load_model(path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "not_zip", "pickle", "no_weights"])
def test_corrupt_files_raise_value_errors_naming_the_file(tmp_path, damage):
    path = tmp_path / "m.theanine"
    _model().save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("weights/00000.npy")
        start = info.header_offset + 30 + len(info.filename) + 20
        path.write_bytes(
            data[:start] + bytes(b ^ 0xFF for b in data[start : start + 16]) + data[start + 16 :]
        )
    elif damage == "not_zip":
        path.write_text("hello")
    elif damage == "pickle":
        _rewrite_member(
            path, "weights/00000.npy", lambda _: _npy_bytes(np.array([{"a": 1}], dtype=object))
        )
    else:
        with zipfile.ZipFile(path) as archive:
            members = {
                n: archive.read(n) for n in archive.namelist() if not n.startswith("weights/")
            }
        with zipfile.ZipFile(path, "w") as archive:
            for n, payload in members.items():
                archive.writestr(n, payload)
    with pytest.raises(ValueError, match=str(path)):
        models.load_model(path)


def _npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.theanine"
    original = _model(seed=1)
    original.save(path)
    before = path.read_bytes()
    calls = []

    def failing_write(archive, name, array):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real_write(archive, name, array)

    real_write = saving._write_array
    monkeypatch.setattr(saving, "_write_array", failing_write)
    with pytest.raises(OSError, match="simulated"):
        _model(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.theanine"]
    monkeypatch.undo()
    restored = models.load_model(path)
    for a, b in zip(restored.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_weights(rng, tmp_path):
    model, other = _model(seed=1), _model(seed=2)
    path = tmp_path / "w.weights"
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    small = models.Sequential([layers.Input(shape=(8,)), layers.Dense(3)])
    with pytest.raises(ValueError, match="holds 4 weight arrays but the rebuilt model has 2"):
        small.load_weights(path)


@saving.register_serializable(package="test_saving")
def doubled_squared_error(y_true, y_pred):
    return 2.0 * th.mean(th.square(y_pred - y_true), axis=-1)


@saving.register_serializable(package="test_saving", name="abs_error")
def absolute_error_metric(y_true, y_pred):
    return th.mean(th.abs(y_pred - y_true), axis=-1)


def unregistered_squared_error(y_true, y_pred):
    return th.mean(th.square(y_pred - y_true), axis=-1)


@saving.register_serializable(package="test_saving")
class Shift(layers.Layer):
    def call(self, inputs):
        return inputs + 1.0


@saving.register_serializable(package="test_saving")
def halved_tanh(x):
    return 0.5 * th.tanh(x)


def _regression(rng):
    x = rng.normal(size=(12, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [2.0], [-1.0]], "float32")).astype("float32")


def _compile_json(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("model.json"))["compile"]


def test_plain_function_losses_and_metrics_are_saved_by_registered_name(rng, tmp_path):
    model = models.Sequential(
        [layers.Input(shape=(3,)), Shift(), layers.Dense(1, activation=halved_tanh)]
    )
    model.compile(
        "sgd",
        doubled_squared_error,
        metrics=[absolute_error_metric],
        weighted_metrics=[absolute_error_metric],
    )
    x, y = _regression(rng)
    path = tmp_path / "functions.theanine"
    model.save(path)
    config = _compile_json(path)
    assert config["loss"] == {
        "class_name": "function",
        "config": "test_saving>doubled_squared_error",
    }
    assert config["metrics"] == [{"class_name": "function", "config": "test_saving>abs_error"}]
    restored = models.load_model(path)
    assert type(restored.layers[0]) is Shift
    assert restored.layers[1].activation is halved_tanh
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(expected) == ["loss", "absolute_error_metric", "weighted_absolute_error_metric"]
    assert restored.evaluate(x, y, verbose=0, return_dict=True) == expected
    error = model.predict(x, verbose=0) - y
    assert expected["loss"] == pytest.approx(2 * np.mean(error**2), rel=1e-5)


def test_an_unregistered_function_loads_through_custom_objects_only(rng, tmp_path):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile("sgd", unregistered_squared_error, metrics=[unregistered_squared_error])
    path = tmp_path / "plain.theanine"
    model.save(path)
    with pytest.raises(
        ValueError,
        match=rf"cannot load '{path}'.*'unregistered_squared_error' is neither registered "
        r"with @register_serializable nor in custom_objects",
    ):
        models.load_model(path)
    assert not models.load_model(path, compile=False).compiled
    restored = models.load_model(
        path, custom_objects={"unregistered_squared_error": unregistered_squared_error}
    )
    x, y = _regression(rng)
    assert restored.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_wrapped_functions_keep_their_options_and_anonymous_ones_cannot_be_saved(tmp_path):
    from theanine.frontend import losses, metrics

    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(
        "sgd",
        losses.LossFunctionWrapper(doubled_squared_error, name="twice", reduction="sum"),
        metrics=[metrics.MeanMetricWrapper(absolute_error_metric, name="abs")],
    )
    path = tmp_path / "wrapped.theanine"
    model.save(path)
    restored = models.load_model(path)
    loss = restored._compile_config.loss
    assert (loss.fn, loss.name, loss.reduction) == (doubled_squared_error, "twice", "sum")
    assert restored.metrics_names == ["loss", "abs"]
    model.compile("sgd", lambda y_true, y_pred: th.abs(y_true - y_pred))
    with pytest.raises(ValueError, match=r"cannot save the loss function .*anonymous function"):
        model.save(tmp_path / "lambda.theanine")
    assert not (tmp_path / "lambda.theanine").exists()


def test_register_serializable_refuses_what_it_cannot_name():
    with pytest.raises(ValueError, match=r"needs a name for <function .*<lambda>.*pass name="):
        saving.register_serializable()(lambda x: x)
    with pytest.raises(ValueError, match=r"must not contain '>'. Received: package='a>b'"):
        saving.register_serializable(package="a>b")
    with pytest.raises(TypeError, match=r"decorates classes and functions. Received: 3"):
        saving.register_serializable()(3)


def test_serialize_keras_object_and_layers_serialize_round_trip():
    """The serialization guide: nested objects in a config, ``layers.serialize``/``deserialize``,
    ``saving.serialize_keras_object``/``deserialize_keras_object`` and ``CustomObjectScope``."""
    from theanine.frontend import activations, regularizers

    class Scaled(layers.Layer):
        def __init__(self, factor, inner=None, **kwargs):
            super().__init__(**kwargs)
            self.factor, self.inner = factor, inner

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor, "inner": self.inner}

    outer = Scaled(3.0, inner=layers.Dense(2, kernel_regularizer=regularizers.L1(0.01)))
    config = layers.serialize(outer)
    json.dumps(config)  # nested layer and regularizer are plain data
    assert config["config"]["inner"]["class_name"] == "Dense"
    assert config["config"]["inner"]["config"]["kernel_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}
    with saving.CustomObjectScope({"Scaled": Scaled}):
        rebuilt = layers.deserialize(config)
    assert isinstance(rebuilt, Scaled) and rebuilt.factor == 3.0
    reg = saving.deserialize_keras_object(saving.serialize_keras_object(regularizers.L2(0.5)))
    assert type(reg).__name__ == "L2" and np.isclose(reg.l2, 0.5)
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(layers.Dense(4, activation="relu")))
    assert isinstance(dense, layers.Dense) and dense.units == 4
    assert saving.deserialize_keras_object({"class_name": "function", "config": "relu"}) is activations.relu
    with pytest.raises(ValueError, match="unknown layer class 'Nope'"):
        saving.deserialize_keras_object({"class_name": "Nope", "config": {}})


def test_keras_saving_hooks_and_tracked_variables(tmp_path):
    """The serialization guide's "Customizing saving": a layer's own variable (tracked when
    assigned), save_own_variables/load_own_variables with extra keys, save_assets/load_assets."""
    import theanine.frontend as keras

    class WithState(layers.Dense):
        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.my_variable = keras.Variable(np.arange(3.0), name="my_variable", trainable=False)

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["extra"] = self.my_variable.numpy() * 10

        def load_own_variables(self, store):
            self.extra = store["extra"]
            super().load_own_variables(store)

        def save_assets(self, dir_path):
            os.makedirs(os.path.join(dir_path, "sub"))
            with open(os.path.join(dir_path, "sub", "vocab.txt"), "w") as handle:
                handle.write("a b c")

        def load_assets(self, dir_path):
            with open(os.path.join(dir_path, "sub", "vocab.txt")) as handle:
                self.vocab = handle.read().split()

    layer = WithState(2)
    model = models.Sequential([layers.Input((4,)), layer])
    assert layer.my_variable in layer.non_trainable_weights and len(layer.weights) == 3
    layer.my_variable.assign(np.array([5.0, 6.0, 7.0]))
    model.save(tmp_path / "m.keras")
    restored = models.load_model(tmp_path / "m.keras", custom_objects={"WithState": WithState})
    again = restored.layers[0]
    assert np.array_equal(again.my_variable.numpy(), [5.0, 6.0, 7.0])
    assert np.array_equal(again.extra, [50.0, 60.0, 70.0]) and again.vocab == ["a", "b", "c"]
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    variable = keras.Variable("ones", shape=(2,), dtype="float32")
    assert variable.trainable and np.array_equal(variable.numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match="an initializer needs a shape"):
        keras.Variable("zeros")


def test_asset_entries_outside_the_layer_folder_are_refused(tmp_path):
    class WithAssets(layers.Dense):
        def load_assets(self, dir_path):
            self.files = sorted(os.listdir(dir_path))

    model = models.Sequential([layers.Input((2,)), WithAssets(1)])
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("layer_assets_1/../../evil.txt", "x")
    with pytest.raises(ValueError, match="is not a relative path inside the layer's folder"):
        models.load_model(path, custom_objects={"WithAssets": WithAssets})


def test_build_and_compile_config_hooks_round_trip(tmp_path):
    """The serialization guide's LayerWithCustomBuild (build takes an extra argument) and
    ModelWithCustomCompile (compile takes other arguments)."""
    import theanine.frontend as keras

    class LayerWithCustomBuild(layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return dict(units=self.units, **super().get_config())

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self._input_shape = input_shape
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init)
            self.layer_init = layer_init

        def get_build_config(self):
            return {"layer_init": self.layer_init, "input_shape": self._input_shape}

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])

    custom = LayerWithCustomBuild(units=4)
    custom.build(input_shape=(8,), layer_init="random_normal")
    model = models.Sequential([custom, layers.Dense(1, activation="sigmoid")])
    x = np.random.randn(5, 8)  # float64 into float32 layers: history survives the cast
    expected = model(x)
    model.save(tmp_path / "build.keras")
    loaded = models.load_model(tmp_path / "build.keras", custom_objects={"LayerWithCustomBuild": LayerWithCustomBuild})
    assert loaded.layers[0].layer_init == "random_normal" and list(loaded.layers[0]._input_shape) == [8]
    np.testing.assert_allclose(loaded(x), expected, rtol=1e-6)

    class ModelWithCustomCompile(models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

        def compile(self, optimizer, loss_fn):
            super().compile(optimizer=optimizer, loss=loss_fn)
            self.model_optimizer, self.loss_fn = optimizer, loss_fn

        def get_compile_config(self):
            return {"model_optimizer": keras.saving.serialize_keras_object(self.model_optimizer),
                    "loss_fn": keras.saving.serialize_keras_object(self.loss_fn)}

        def compile_from_config(self, config):
            self.compile(optimizer=keras.saving.deserialize_keras_object(config["model_optimizer"]),
                         loss_fn=keras.saving.deserialize_keras_object(config["loss_fn"]))

    model = ModelWithCustomCompile()
    model.compile(optimizer=optimizers.SGD(0.01), loss_fn="mse")
    model.fit(np.random.rand(8, 3), np.random.rand(8, 2), verbose=0)
    model.save(tmp_path / "compile.keras")
    loaded = models.load_model(tmp_path / "compile.keras",
                               custom_objects={"ModelWithCustomCompile": ModelWithCustomCompile})
    assert type(loaded.model_optimizer).__name__ == "SGD" and loaded.loss_fn == "mse"
    assert np.isclose(float(np.asarray(loaded.optimizer.learning_rate)), 0.01)

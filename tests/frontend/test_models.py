"""Sequential, functional and subclassed models: structure, nesting, sharing, summary, training."""

import json

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models, optimizers


def _relu(a):
    return np.maximum(a, 0)


def _dense(layer, x):
    kernel, bias = layer.get_weights()
    return x @ kernel + bias


def test_sequential_from_list_and_from_add_compute_the_same(rng):
    th.set_seed(1)
    a = models.Sequential(
        [layers.Input(shape=(4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]
    )
    th.set_seed(1)
    b = models.Sequential()
    b.add(layers.Input(shape=(4,)))
    b.add(layers.Dense(3, activation="relu"))
    b.add(layers.Dense(2))
    x = rng.normal(size=(5, 4)).astype("float32")
    for w1, w2 in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    expected = _dense(a.layers[1], _relu(_dense(a.layers[0], x)))
    np.testing.assert_allclose(a.predict(x, verbose=0), expected, rtol=1e-5)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    assert [layer.name for layer in a.layers] == ["dense", "dense_1"]


def test_sequential_without_input_builds_on_first_data(rng):
    model = models.Sequential([layers.Dense(3), layers.Dense(1)])
    assert not model.built
    model.compile("sgd", "mse")
    model.fit(rng.normal(size=(8, 5)), rng.normal(size=(8, 1)), verbose=0)
    assert model.built and model.layers[0].kernel.get_value().shape == (5, 3)


class Product(layers.Layer):
    """A two-input layer: the elementwise product of its inputs."""

    def call(self, inputs, training=None):
        return inputs[0] * inputs[1]


def test_functional_two_inputs_two_outputs_trains_with_dict_losses(rng):
    a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(2,), name="b")
    shared = layers.Dense(8, activation="tanh")
    merged = Product()([shared(a), shared(layers.Dense(3)(b))])
    value = layers.Dense(1, name="value")(merged)
    label = layers.Dense(2, activation="softmax", name="label")(merged)
    model = models.Model(inputs=[a, b], outputs=[value, label])
    assert isinstance(model, models.Functional) and model.output_names == ["value", "label"]
    model.compile(
        optimizers.Adam(0.02),
        loss={"value": "mse", "label": "sparse_categorical_crossentropy"},
        loss_weights={"value": 0.5, "label": 1.0},
        metrics={"label": ["accuracy"]},
    )
    xa, xb = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 2)).astype("float32")
    y_value = (xa.sum(axis=1, keepdims=True) - xb[:, :1]).astype("float32")
    y_label = (xa[:, 0] > 0).astype("int64")
    before = model.evaluate({"a": xa, "b": xb}, {"value": y_value, "label": y_label}, verbose=0)
    history = model.fit([xa, xb], [y_value, y_label], epochs=30, batch_size=16, verbose=0)
    after = model.evaluate([xa, xb], [y_value, y_label], verbose=0, return_dict=True)
    assert model.metrics_names == ["loss", "value_loss", "label_loss", "label_accuracy"]
    assert after["loss"] < 0.3 * before[0] and after["label_accuracy"] > 0.9
    np.testing.assert_allclose(
        after["loss"], 0.5 * after["value_loss"] + after["label_loss"], rtol=1e-5
    )
    assert set(history.history) == {"loss", "value_loss", "label_loss", "label_accuracy"}
    value_pred, label_pred = model.predict([xa, xb], verbose=0)
    assert value_pred.shape == (64, 1) and label_pred.shape == (64, 2)


def test_functional_weight_sharing_uses_one_set_of_weights(rng):
    x = layers.Input(shape=(4,))
    dense = layers.Dense(4, use_bias=False)
    model = models.Model(x, dense(dense(x)))
    assert len(model.weights) == 1 and len(dense._inbound_nodes) == 2
    value = rng.normal(size=(2, 4)).astype("float32")
    kernel = dense.get_weights()[0]
    np.testing.assert_allclose(model.predict(value, verbose=0), value @ kernel @ kernel, rtol=1e-5)


def test_models_nest_as_layers(rng):
    inner = models.Sequential(
        [layers.Input(shape=(3,)), layers.Dense(2, activation="relu")], name="inner"
    )
    x = layers.Input(shape=(3,))
    outer = models.Model(x, layers.Dense(1)(inner(x)))
    assert outer.layers[1] is inner and len(outer.weights) == 4
    value = rng.normal(size=(4, 3)).astype("float32")
    expected = _dense(outer.layers[2], _relu(_dense(inner.layers[0], value)))
    np.testing.assert_allclose(outer.predict(value, verbose=0), expected, rtol=1e-5)


def test_graph_disconnected_and_bad_inputs_are_errors():
    a, b = layers.Input(shape=(2,)), layers.Input(shape=(2,))
    out = th.tensor("loose", shape=(None, 1)) + 0  # operations on layer outputs are fine (test_functional_ops.py)
    with pytest.raises(ValueError, match="must be a tensor computed from layers.Input"):
        models.Model(a, out)
    y = layers.Dense(1)(a)
    with pytest.raises(ValueError, match="Graph disconnected"):
        models.Model(b, y)


class TwoLayerNet(models.Model):
    def __init__(self, hidden=16, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(hidden, activation="relu")
        self.dropout = layers.Dropout(0.1, seed=0)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.dropout(self.hidden(inputs)))


def test_subclassed_model_trains_and_tracks_its_layers(rng):
    th.set_seed(3)
    model = TwoLayerNet()
    x = rng.normal(size=(90, 4)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    model.compile(optimizers.Adam(0.03), "sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    history = model.fit(x, y, epochs=25, batch_size=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * first and history.history["accuracy"][-1] > 0.9
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    assert [w.name for w in model.weights] == [
        "dense/kernel",
        "dense/bias",
        "dense_1/kernel",
        "dense_1/bias",
    ]


def test_summary_prints_shapes_and_parameter_counts():
    model = models.Sequential(
        [
            layers.Input(shape=(64,)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits",
    )
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert 'Model: "digits"' in text
    assert any(
        row.split() == ["dense", "(Dense)", "(None,", "128)", "8,320"] for row in text.splitlines()
    )
    assert any(
        row.split() == ["dropout", "(Dropout)", "(None,", "128)", "0"] for row in text.splitlines()
    )
    assert "Total params: 9,610 (37.54 KB)" in text
    assert "Trainable params: 9,610" in text and "Non-trainable params: 0 (0.00 B)" in text


def test_functional_summary_has_connections():
    a, b = layers.Input(shape=(2,), name="a"), layers.Input(shape=(2,), name="b")
    dense = layers.Dense(2, name="shared")
    model = models.Model([a, b], [dense(a), dense(b)])
    lines = []
    model.summary(print_fn=lines.append)
    row = next(r for r in lines[0].splitlines() if r.strip().startswith("shared"))
    assert "multiple" in row and "a[0][0], b[0][0]" in row


def test_duplicate_user_names_are_rejected():
    x = layers.Input(shape=(2,))
    y = layers.Dense(2, name="same")(layers.Dense(2, name="same")(x))
    with pytest.raises(ValueError, match="two different layers are named 'same'"):
        models.Model(x, y)


def test_trainable_false_freezes_weights(rng):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2), layers.Dense(1)])
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    model.compile("sgd", "mse")
    model.fit(rng.normal(size=(16, 3)), rng.normal(size=(16, 1)), epochs=2, verbose=0)
    for before, after in zip(frozen, model.layers[0].get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_model_from_config_rebuilds_a_functional_model(rng):
    a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(2,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    merged = layers.Concatenate()([shared(a), layers.Dense(4, name="side")(b)])
    model = models.Model(
        inputs=[a, b], outputs={"value": layers.Dense(1, name="value")(merged), "same": shared(a)}
    )
    clone = models.Model.from_config(model.get_config())
    assert type(clone) is models.Functional and clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x = [rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")]
    expected, got = model.predict(x, verbose=0), clone.predict(x, verbose=0)
    assert sorted(got) == ["same", "value"]
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    with pytest.raises(TypeError, match=r"cannot rebuild Model from its config \['layers', 'name'"):
        models.Model.from_config({"name": "m", "layers": []})


def test_sequential_pop_removes_the_last_layer_and_retraces(rng):
    model = models.Sequential(
        [layers.Input(shape=(3,)), layers.Dense(4, name="hidden"), layers.Dense(2, name="out")]
    )
    model.compile("sgd", "mse")
    x = rng.normal(size=(5, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (5, 2)
    popped = model.pop()
    assert popped.name == "out" and [layer.name for layer in model.layers] == ["hidden"]
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-5)
    model.fit(x, np.zeros((5, 4), "float32"), epochs=1, verbose=0)
    model.pop(rebuild=False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    with pytest.raises(TypeError, match=r"pop: there are no layers in the model"):
        model.pop()


def test_to_json_and_model_from_json_round_trip_the_architecture(rng):
    inputs = layers.Input(shape=(3,), name="features")
    hidden = layers.Dense(4, activation="tanh", name="hidden")(inputs)
    model = models.Model(inputs, layers.Dense(1, name="out")(hidden), name="regressor")
    text = model.to_json(indent=2)
    assert json.loads(text)["class_name"] == "Functional"
    restored = models.model_from_json(text)
    assert restored.get_config() == model.get_config()
    assert not any(
        np.array_equal(a, b)
        for a, b in zip(restored.get_weights(), model.get_weights(), strict=True)
        if a.any()
    )
    with pytest.raises(ValueError, match=r"model_from_json needs a model's to_json\(\) text"):
        models.model_from_json("{not json")
    with pytest.raises(ValueError, match=r"describes a Dense layer, not a model"):
        models.model_from_json(json.dumps(layers.serialize_layer(layers.Dense(2))))


def test_clone_model_has_the_architecture_and_new_weights(rng):
    a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(3,), name="b")
    shared = layers.Dense(2, name="shared")
    model = models.Model({"a": a, "b": b}, layers.add([shared(a), shared(b)], name="sum"))
    clone = models.clone_model(model)
    assert clone.get_config() == model.get_config()
    assert {id(w) for w in clone.weights}.isdisjoint(id(w) for w in model.weights)
    assert len(clone.weights) == 2
    clone.set_weights(model.get_weights())
    x = {
        "a": rng.normal(size=(4, 3)).astype("float32"),
        "b": rng.normal(size=(4, 3)).astype("float32"),
    }
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clone_model_with_clone_function_and_input_tensors(rng):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    seen = []

    def widen(layer):
        seen.append(layer.name)
        config = layer.get_config()
        if config["units"] == 4:
            config["units"] = 8
        return type(layer).from_config(config)

    clone = models.clone_model(
        model, input_tensors=layers.Input(shape=(3,), name="new_in"), clone_function=widen
    )
    assert seen == ["dense", "dense_1"] and clone.layers[0].units == 8
    assert clone.predict(np.zeros((2, 3), "float32"), verbose=0).shape == (2, 1)
    with pytest.raises(TypeError, match=r"clone_function must return a Layer. Received: int"):
        models.clone_model(model, clone_function=lambda layer: 3)

    class Net(models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    assert type(models.clone_model(Net())) is Net
    with pytest.raises(ValueError, match=r"subclassed model .* cannot take clone_function"):
        models.clone_model(Net(), clone_function=lambda layer: layer)


def test_an_unbuilt_subclassed_model_with_two_outputs_trains_with_a_loss_list(rng):
    class TwoHeads(models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.left, self.right = layers.Dense(1), layers.Dense(2)

        def call(self, inputs):
            return [self.left(inputs), self.right(inputs)]

    model = TwoHeads()
    model.compile(optimizers.SGD(0.0), ["mse", "mae"])
    x = rng.normal(size=(6, 3)).astype("float32")
    y = [rng.normal(size=(6, 1)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")]
    logs = model.train_on_batch(x, y, return_dict=True)
    left, right = model.predict(x, verbose=0)
    assert logs["output_0_loss"] == pytest.approx(np.mean((left - y[0]) ** 2), rel=1e-5)
    assert logs["output_1_loss"] == pytest.approx(np.mean(np.abs(right - y[1])), rel=1e-5)


def test_functional_input_and_output_shapes_and_from_config_with_custom_objects():
    """The Functional API guide: ``Model.from_config(config, custom_objects={...})``."""
    from theanine.frontend import ops

    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    inputs = layers.Input((4,))
    model = models.Model(inputs, [CustomDense(10)(inputs), layers.Dense(2)(inputs)])
    assert model.input_shape == (None, 4) and model.output_shape == [(None, 10), (None, 2)]
    assert model.layers[1].w.shape == (4, 10)
    rebuilt = models.Model.from_config(model.get_config(), custom_objects={"CustomDense": CustomDense})
    outputs = rebuilt(np.ones((3, 4), "float32"))
    assert [o.shape for o in outputs] == [(3, 10), (3, 2)]
    with pytest.raises(ValueError, match="unknown layer class 'CustomDense'"):
        models.Model.from_config(model.get_config())


def test_trainable_is_set_recursively_and_summary_options():
    """The transfer-learning guide: ``model.trainable = False`` freezes every layer inside;
    ``summary(show_trainable=True)`` shows it; Keras 3's other summary arguments."""
    inner = models.Sequential([layers.Input((3,)), layers.Dense(3), layers.Dense(3)], name="inner")
    model = models.Sequential([layers.Input((3,)), inner, layers.Dense(1)])
    model.trainable = False
    assert not inner.trainable and not inner.layers[0].trainable and model.trainable_weights == []
    inner.trainable = True
    assert all(layer.trainable for layer in inner.layers) and len(inner.trainable_weights) == 4
    assert model.trainable_weights == []  # as Keras: a frozen model has none, whatever its layers say
    lines = []
    model.summary(print_fn=lines.append, show_trainable=True, expand_nested=True)
    rows = lines[0].splitlines()
    assert rows[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Trainable"]
    assert any(r.startswith(" inner (Sequential)") and r.endswith("Y") for r in rows)
    assert any(r.startswith("   dense (Dense)") for r in rows)  # nested, indented
    assert rows[-4] == "Total params: 28 (112.00 B)"
    lines.clear()
    model.summary(print_fn=lines.append, line_length=40, positions=[0.5, 0.8, 1.0], layer_range=["inner", "inner"])
    table = lines[0].splitlines()
    assert all(len(r) <= 40 for r in table) and sum("(Sequential)" in r for r in table) == 1
    assert not any("Dense)" in r for r in table)
    with pytest.raises(ValueError, match="layer_range=.* matches no layers"):
        model.summary(layer_range=["nope", "inner"])


def test_float64_inputs_keep_their_history_through_the_layers_cast():
    inputs = layers.Input((3,), dtype="float64")
    outputs = layers.Dense(2)(layers.Dense(4)(inputs))
    model = models.Model(inputs, outputs)
    assert [layer.name for layer in model.layers][1:] == ["dense", "dense_1"] and model.output_shape == (None, 2)
    assert model.predict(np.ones((2, 3)), verbose=0).dtype == np.float32

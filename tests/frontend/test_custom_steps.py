"""Overriding train_step / test_step (Keras 3's "customizing what happens in fit"), Variable.assign,
optimizer.apply_gradients, and Keras-style Metric subclasses in compile()."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, metrics, models, optimizers
from theanine.frontend.variables import Variable, variable


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")


class GuideModel(models.Model):
    """The first example of Keras' guide: loop over self.metrics, return their results."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = th.grad(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Plain(models.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)

    def call(self, x):
        return self.dense(x)


def _twins(custom_cls):
    x, y = _data()
    custom, plain = custom_cls(), Plain()
    custom(x[:1]), plain(x[:1])
    plain.set_weights(custom.get_weights())
    for model in (custom, plain):
        model.compile(optimizer=optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return custom, plain, x, y


def test_custom_train_step_trains_as_the_default_step_and_logs_the_same():
    custom, plain, x, y = _twins(GuideModel)
    h_custom = custom.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    h_plain = plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(custom.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert sorted(h_custom.history) == ["loss", "mae"]
    for key in ("loss", "mae"):  # equal batches: the mean of batch losses is the sample mean
        np.testing.assert_allclose(h_custom.history[key], h_plain.history[key], rtol=1e-5)
    assert [m.name for m in custom.metrics] == ["loss", "mae"]


def test_super_train_step_and_default_test_step():
    class Delegating(Plain):
        def train_step(self, data):
            return super().train_step(data)

    custom, plain, x, y = _twins(Delegating)
    custom.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(custom.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(
        custom.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0), rtol=1e-5
    )


def test_own_trackers_with_a_metrics_property_are_reset_every_epoch():
    loss_tracker = metrics.Mean(name="loss")
    mae_metric = metrics.MeanAbsoluteError(name="mae")

    class Model(Plain):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = th.mean((y - y_pred) ** 2)
            weights = self.trainable_weights
            self.optimizer.apply_gradients(zip(th.grad(loss, weights), weights, strict=True))
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

        @property
        def metrics(self):
            return [loss_tracker, mae_metric]

    x, y = _data(32)
    model = Model()
    model.compile(optimizer=optimizers.SGD(0.0))  # no loss: the step computes its own
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    kernel, bias = model.get_weights()
    err = x @ kernel + bias - y
    expected_mae = np.abs(err).mean()
    np.testing.assert_allclose(history["mae"], [expected_mae] * 2, rtol=1e-5)  # reset per epoch
    np.testing.assert_allclose(history["loss"], [(err**2).mean()] * 2, rtol=1e-5)


def test_sample_weights_and_targets_reach_the_step_packed_as_keras_does():
    seen = []

    class Model(Plain):
        def train_step(self, data):
            seen.append(type(data).__name__ + str(len(data)) if isinstance(data, tuple) else "x")
            x, y, sample_weight = data
            loss = self.compute_loss(y=y, y_pred=self(x), sample_weight=sample_weight)
            return {"loss": loss}

    x, y = _data(8)
    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    weight = np.arange(8, dtype="float32")
    logs = model.train_on_batch(x, y, sample_weight=weight, return_dict=True)
    pred = model.predict(x, verbose=0)
    expected = np.sum(((pred - y) ** 2).mean(axis=1) * weight) / 8  # Keras: sum_over_batch_size
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)
    assert seen == ["tuple3"]


def test_fit_without_targets_passes_x_alone_and_variables_assign_in_the_step():
    class Counter(Plain):
        def __init__(self):
            super().__init__()
            self.steps = variable(np.int64(0), name="steps")

        def train_step(self, data):
            assert isinstance(data, th.Variable)  # fit(x): the batch itself, as Keras packs it
            self.steps.assign_add(1)
            self.steps.assign_add(1)  # builds on the first assignment: +2 per step
            return {"mean_x": th.mean(data), "steps": self.steps}

    x, _ = _data(20)
    model = Counter()
    model.compile(optimizer="sgd")
    history = model.fit(x, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    assert model.steps.numpy() == 16
    assert history["steps"] == [6.0, 14.0]  # a read inside the step sees the value before it
    np.testing.assert_allclose(history["mean_x"][-1], x[15:].mean(), rtol=1e-5)


def test_custom_test_step_drives_evaluate():
    class Model(Plain):
        def test_step(self, data):
            x, y = data
            return {"max_error": th.max(th.abs(self(x, training=False) - y))}

    x, y = _data(10)
    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    result = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    np.testing.assert_allclose(
        result["max_error"], np.abs(model.predict(x, verbose=0) - y).max(), rtol=1e-6
    )


def test_a_step_must_return_a_dict_and_loss_none_needs_an_override():
    class Model(Plain):
        def train_step(self, data):
            return 1.0

    x, y = _data(4)
    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="train_step must return a dict of logs"):
        model.fit(x, y, verbose=0)
    plain = Plain()
    plain.compile(optimizer="sgd")  # Keras accepts it: layers may add their losses
    with pytest.raises(ValueError, match="needs a loss .* unless its layers call add_loss"):
        plain.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="pass sample_weight instead of class_weight"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


class BinaryTruePositives(metrics.Metric):
    """The subclassing example of Keras' Metric docstring."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = th.cast(th.logical_and(th.neq(y_true, 0), y_pred > 0.5), self.dtype)
        if sample_weight is not None:
            values = values * th.cast(th.reshape(sample_weight, (-1, 1)), self.dtype)
        self.true_positives.assign_add(th.sum(values))

    def result(self):
        return self.true_positives + 0.0


def test_keras_style_metric_eagerly():
    metric = BinaryTruePositives()
    metric.update_state(np.array([[0], [1], [1], [1]]), np.array([[1.0], [0.0], [1.0], [1.0]]))
    assert metric.result() == 2.0
    metric.update_state(np.array([[1]]), np.array([[0.9]]), sample_weight=np.array([3.0]))
    assert metric.result() == 5.0 and [v.name for v in metric.variables] == [
        "binary_true_positives/tp"
    ]
    metric.reset_state()
    assert metric.result() == 0.0
    with pytest.raises(TypeError, match="runs inside a traced step"):
        metric.update_state(th.matrix("y"), th.matrix("p"))


def test_keras_style_metric_in_compile_counts_over_each_epoch_and_evaluate():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = models.Sequential([layers.Input((2,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="binary_crossentropy",
                  metrics=[BinaryTruePositives()])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    expected = float(np.sum((y > 0) & (model.predict(x, verbose=0) > 0.5)))
    assert history["binary_true_positives"] == [expected, expected]
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert logs["binary_true_positives"] == expected


def test_variables_assign_now_outside_a_step_and_refuse_symbolic_values():
    v = variable(np.zeros(3, "float32"), name="v")
    assert isinstance(v, Variable) and isinstance(layers.Dense(1).add_weight((2,)), Variable)
    v.assign([1.0, 2.0, 3.0])
    v.assign_sub(1.0)
    got = v.numpy()
    np.testing.assert_array_equal(got, [0.0, 1.0, 2.0])
    got[0] = 9.0
    assert v.numpy()[0] == 0.0  # numpy() is a copy
    with pytest.raises(TypeError, match="only be assigned inside a traced step"):
        v.assign(th.vector("x"))
    with pytest.raises(ValueError, match="does not fit the variable's shape"):
        v.assign(np.zeros(4))
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, 2.0])


def test_optimizer_apply_gradients_eagerly_matches_sgd():
    w = variable(np.array([1.0, 2.0], "float32"), name="w")
    opt = optimizers.SGD(learning_rate=0.1)
    opt.apply_gradients([(np.array([1.0, -1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [0.9, 2.1], rtol=1e-6)
    assert opt.iterations.numpy() == 1
    with pytest.raises(TypeError, match="expects \\(gradient, variable\\) pairs"):
        opt.apply_gradients([np.ones(2)])


def test_a_model_subclass_called_with_inputs_and_outputs_is_functional_with_its_train_step():
    """The customizing-fit guide: ``CustomModel(inputs, outputs)`` with an overridden train_step."""

    class CustomModel(models.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.steps_seen = metrics.Sum(name="steps")

        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = th.grad(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            self.steps_seen.update_state(1.0)
            return {"loss": loss, "steps": self.steps_seen.result()}

    inputs = layers.Input(shape=(3,))
    model = CustomModel(inputs, layers.Dense(1)(inputs))
    assert isinstance(model, models.Functional) and isinstance(model, CustomModel)
    assert model.output_shape == (None, 1) and len(model.layers) == 2
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    x, y = _data()
    kernel, bias = (w.numpy() for w in model.layers[1].weights)
    history = model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    assert np.isclose(history.history["loss"][0], np.mean((x[:8] @ kernel + bias - y[:8]) ** 2), rtol=1e-5)
    assert history.history["steps"] == [1.0]
    plain = CustomModel(name="subclassed")  # no (inputs, outputs): an ordinary subclassed model
    assert not isinstance(plain, models.Functional) or plain.name == "subclassed"

"""``optimizers.MultiOptimizer`` / ``OptimizerMap``: each weight stepped by its own optimizer,
state saved and restored, Keras' lookup rules and errors."""

import numpy as np
import pytest

from theanine.frontend import layers, models, optimizers


def _model(seed=0):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(4, name="encoder"), layers.Dense(1, name="head")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.get_value().shape).astype("float32") for w in model.trainable_weights])
    return model


def _data():
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _one_step(model, optimizer):
    model.compile(optimizer, "mse")
    model.fit(*_data(), batch_size=16, epochs=1, verbose=0, shuffle=False)
    return {w.path: w.get_value() for w in model.trainable_weights}


def test_each_weight_takes_its_own_optimizers_step():
    mapping = optimizers.OptimizerMap(optimizers.SGD(0.1), {"encoder/.*": optimizers.Adam(0.01)})
    multi = optimizers.MultiOptimizer(mapping)
    mixed = _one_step(_model(), multi)
    by_sgd, by_adam = _one_step(_model(), optimizers.SGD(0.1)), _one_step(_model(), optimizers.Adam(0.01))
    for path, value in mixed.items():
        np.testing.assert_allclose(value, (by_adam if path.startswith("encoder") else by_sgd)[path], rtol=1e-6)
    assert [type(o).__name__ for o in multi.optimizers] == ["Adam", "SGD"]
    assert multi.iterations.get_value() == 1 and all(o.iterations.get_value() == 1 for o in multi.optimizers)
    with pytest.raises(AttributeError, match="no single learning rate"):
        multi.learning_rate  # noqa: B018


def test_a_selector_function_and_saved_state(tmp_path):
    picked = {"encoder": optimizers.Adam(0.01), "head": optimizers.RMSprop(0.01)}
    multi = optimizers.MultiOptimizer(lambda weight: picked[weight.path.split("/")[0]])
    model = _model()
    model.compile(multi, "mse")
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert len(multi.optimizers) == 2
    with pytest.raises(ValueError, match="built from a function cannot be saved"):
        multi.get_config()

    mapping = optimizers.OptimizerMap(optimizers.RMSprop(0.01), {"encoder/.*": optimizers.Adam(0.01)})
    mapped = optimizers.MultiOptimizer(mapping)
    model = _model()
    model.compile(mapped, "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "multi.keras"
    model.save(path)
    restored = models.load_model(path)
    assert isinstance(restored.optimizer, optimizers.MultiOptimizer)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    restored.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # the moments came back
    for a, b in zip(model.trainable_weights, restored.trainable_weights, strict=True):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-6)


def test_optimizer_map_lookup_rules_and_errors():
    default, adam, sgd = optimizers.RMSprop(), optimizers.Adam(), optimizers.SGD()
    mapping = optimizers.OptimizerMap(default)
    mapping["encoder/layer_0/dense"] = adam
    mapping["encoder/.*"] = sgd
    assert mapping["encoder/layer_0/dense"] is adam and mapping["encoder/layer_0/query"] is sgd
    assert mapping["decoder/dense"] is default and len(mapping) == 2
    mapping["encoder/layer_0/.*"] = optimizers.Adam()
    with pytest.raises(ValueError, match="all match 'encoder/layer_0/x'"):
        mapping["encoder/layer_0/x"]  # noqa: B018
    with pytest.raises(ValueError, match="already has an optimizer"):
        mapping["encoder/.*"] = adam
    with pytest.raises(TypeError, match="must be an Optimizer instance"):
        optimizers.OptimizerMap("sgd")
    with pytest.raises(ValueError, match="cannot be a MultiOptimizer"):
        mapping["x"] = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    with pytest.raises(ValueError, match="no loss_scale_factor"):
        optimizers.MultiOptimizer(mapping, loss_scale_factor=2.0)

"""Lamb, LossScaleOptimizer, the optimizers' use_ema and the SwapEMAWeights callback: steps against
NumPy versions of Keras 3's formulas, the dynamic loss scale, config, fit and save/resume."""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import callbacks, layers, models, optimizers


def _steps(optimizer, starts, gradients):
    """Apply each list of gradient arrays in turn (eagerly); the weights after each step."""
    weights = [th.shared(np.array(w, "float32"), name=f"w{i}") for i, w in enumerate(starts)]
    history = []
    for grads in gradients:
        optimizer.apply_gradients(zip([np.asarray(g, "float32") for g in grads], weights, strict=True))
        history.append([w.get_value() for w in weights])
    return weights, history


def _problem(seed=0, steps=4):
    rng = np.random.default_rng(seed)
    starts = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    gradients = [[rng.normal(size=(3, 2)), rng.normal(size=4)] for _ in range(steps)]
    return starts, gradients


def _np_lamb(starts, gradients, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    weights = [np.array(w, "float64") for w in starts]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(gradients, start=1):
        for i, g in enumerate(grads):
            if weight_decay:
                weights[i] = weights[i] - weights[i] * weight_decay * lr
            m[i] += (g - m[i]) * (1 - beta_1)
            v[i] += (g * g - v[i]) * (1 - beta_2)
            update = (m[i] / (1 - beta_1**t)) / (np.sqrt(v[i] / (1 - beta_2**t)) + epsilon)
            w_norm, u_norm = np.linalg.norm(weights[i]), np.linalg.norm(update)
            ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            weights[i] = weights[i] - ratio * lr * update
    return weights


@pytest.mark.parametrize("options", [{}, {"beta_1": 0.8, "epsilon": 1e-3, "weight_decay": 0.1}])
def test_lamb_against_numpy(options):
    starts, gradients = _problem()
    _, history = _steps(optimizers.Lamb(0.01, **options), starts, gradients)
    for got, expected in zip(history[-1], _np_lamb(starts, gradients, **options), strict=True):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_lamb_trust_ratio_is_one_for_zero_weights():
    """A zero weight has no norm: the step is Adam's bias-corrected step times the rate."""
    _, history = _steps(optimizers.Lamb(0.1), [np.zeros(3)], [[np.array([1.0, -2.0, 0.5])]])
    np.testing.assert_allclose(history[0][0], -0.1 * np.sign([1.0, -2.0, 0.5]), rtol=1e-5)


# ----------------------------------------------------------------------------- loss scaling


def test_loss_scale_optimizer_unscales_grows_and_skips_non_finite_steps():
    starts, gradients = _problem(steps=3)
    scale = 8.0
    wrapped = optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=scale, dynamic_growth_steps=2)
    scaled = [[g * scale for g in gradients[0]], [g * scale for g in gradients[1]]]
    weights, history = _steps(wrapped, starts, scaled)
    expected = [w - 0.1 * (g0 + g1) for w, g0, g1 in zip(starts, gradients[0], gradients[1], strict=True)]
    for got, want in zip(history[-1], expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert float(wrapped.dynamic_scale.get_value()) == 16.0  # two finite steps: doubled
    assert int(wrapped.step_counter.get_value()) == 0 and int(wrapped.iterations.get_value()) == 2
    bad = [np.full((3, 2), np.inf), np.ones(4)]
    wrapped.apply_gradients(zip([np.asarray(g, "float32") for g in bad], weights, strict=True))
    for weight, before in zip(weights, history[-1], strict=True):
        np.testing.assert_array_equal(weight.get_value(), before)  # the step is skipped
    assert float(wrapped.dynamic_scale.get_value()) == 8.0  # and the scale halved
    assert int(wrapped.iterations.get_value()) == 2


def test_loss_scale_optimizer_trains_as_its_inner_optimizer_and_resumes(tmp_path):
    """The loss scale is a power of two, so scaling and unscaling are exact: the same weights."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")

    def model(optimizer):
        th.set_seed(0)
        net = models.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
        net.compile(optimizer=optimizer, loss="mse")
        return net

    plain = model(optimizers.Adam(0.05))
    plain.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    scaled = model(optimizers.LossScaleOptimizer(optimizers.Adam(0.05), dynamic_growth_steps=3))
    scaled.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(scaled.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(scaled.optimizer.dynamic_scale.get_value()) == 2.0**15 * 4  # 8 steps, doubled every 3
    half = model(optimizers.LossScaleOptimizer(optimizers.Adam(0.05), dynamic_growth_steps=3))
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "lso.theanine")
    resumed = models.load_model(tmp_path / "lso.theanine")
    assert isinstance(resumed.optimizer, optimizers.LossScaleOptimizer)
    assert isinstance(resumed.optimizer.inner_optimizer, optimizers.Adam)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), scaled.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(resumed.optimizer.dynamic_scale.get_value()) == 2.0**15 * 4


def test_loss_scale_optimizer_arguments_and_config():
    with pytest.raises(ValueError, match="LossScaleOptimizer does not support `clipnorm`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="no longer supports `dynamic=False`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic=False)
    with pytest.raises(ValueError, match="does not support arguments: `foo`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), foo=1)
    with pytest.raises(TypeError, match="wraps an optimizer instance"):
        optimizers.LossScaleOptimizer("sgd")
    wrapped = optimizers.LossScaleOptimizer(optimizers.Lamb(0.2, beta_1=0.8), initial_scale=4.0,
                                            dynamic_growth_steps=10)
    again = optimizers.deserialize(optimizers.serialize(wrapped))
    assert again.get_config() == wrapped.get_config()
    assert again.learning_rate == pytest.approx(0.2) and again.inner_optimizer.beta_1 == 0.8
    assert float(wrapped.scale_loss(th.constant(np.float32(3.0))).eval()) == 12.0


def test_lamb_by_name_and_config():
    assert isinstance(optimizers.get("lamb"), optimizers.Lamb)
    lamb = optimizers.Lamb(0.02, beta_2=0.99, weight_decay=0.01)
    assert optimizers.deserialize(optimizers.serialize(lamb)).get_config() == lamb.get_config()


# ----------------------------------------------------------------------------- EMA


def _np_sgd_ema(starts, gradients, lr, momentum, frequency=None):
    weights = [np.array(w, "float64") for w in starts]
    averages = [np.zeros_like(w) for w in weights]
    for iteration, grads in enumerate(gradients):
        for i, g in enumerate(grads):
            weights[i] = weights[i] - lr * g
            m = momentum if iteration else 0.0
            averages[i] = m * averages[i] + (1 - m) * weights[i]
            if frequency and (iteration + 1) % frequency == 0:
                weights[i] = averages[i].copy()
    return weights, averages


@pytest.mark.parametrize("frequency", [None, 2])
def test_use_ema_keeps_keras_moving_averages(frequency):
    starts, gradients = _problem(steps=5)
    optimizer = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=frequency)
    weights, history = _steps(optimizer, starts, gradients)
    expected_weights, expected_averages = _np_sgd_ema(starts, gradients, 0.1, 0.7, frequency)
    for got, want in zip(history[-1], expected_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for (_, average), want in zip(optimizer.ema_pairs(), expected_averages, strict=True):
        np.testing.assert_allclose(average.get_value(), want, rtol=1e-5, atol=1e-6)
    optimizer.finalize_variable_values(weights)
    for weight, want in zip(weights, expected_averages, strict=True):
        np.testing.assert_allclose(weight.get_value(), want, rtol=1e-5, atol=1e-6)


def test_ema_arguments_are_checked_and_saved():
    with pytest.raises(ValueError, match=r"`ema_momentum` must be in the range \[0, 1\]"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="`ema_overwrite_frequency` must be an integer >= 1 or None"):
        optimizers.Adam(use_ema=True, ema_overwrite_frequency=-1)
    adam = optimizers.Adam(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=5)
    config = optimizers.deserialize(optimizers.serialize(adam)).get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (True, 0.9, 5)
    with pytest.raises(ValueError, match="keeps no moving averages"):
        optimizers.Adam().ema_pairs()


def _ema_model(optimizer):
    th.set_seed(0)
    net = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    net.compile(optimizer=optimizer, loss="mse")
    return net


def _data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 3)).astype("float32")
    return x, (x @ rng.normal(size=(3, 2))).astype("float32")


def test_swap_ema_weights_validates_with_the_averages_and_fit_ends_with_them(tmp_path):
    x, y = _data()
    model = _ema_model(optimizers.SGD(0.05, use_ema=True, ema_momentum=0.8))
    seen = []

    def record(epoch, logs):
        optimizer = model.optimizer
        seen.append(([w.get_value() for w, _ in optimizer.ema_pairs()],
                     [a.get_value() for _, a in optimizer.ema_pairs()]))

    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.SwapEMAWeights(), callbacks.LambdaCallback(on_epoch_end=record)])
    # between epochs the trained weights are in the model; the validation loss is the averages' one
    trained, averages = seen[-1]
    probe = _ema_model(optimizers.SGD(0.05))
    probe.set_weights(averages)
    assert history.history["val_loss"][-1] == pytest.approx(probe.evaluate(x, y, verbose=0), rel=1e-6)
    assert not np.allclose(trained[0], averages[0])
    for weight, average in zip(model.get_weights(), averages, strict=True):  # fit ends on the averages
        np.testing.assert_array_equal(weight, average)
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True`"):
        _ema_model(optimizers.SGD(0.05)).fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                                             callbacks=[callbacks.SwapEMAWeights()])


def test_swap_ema_weights_uses_the_averages_of_a_loss_scale_optimizers_inner_optimizer():
    x, y = _data()
    inner = optimizers.SGD(0.05, use_ema=True, ema_momentum=0.8)
    model = _ema_model(optimizers.LossScaleOptimizer(inner, dynamic_growth_steps=2))
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.SwapEMAWeights()])
    averages = [a.get_value() for _, a in inner.ema_pairs()]
    for weight, average in zip(model.get_weights(), averages, strict=True):
        np.testing.assert_array_equal(weight, average)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_swap_on_epoch_keeps_the_averages_in_the_model_between_epochs():
    x, y = _data()
    model = _ema_model(optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5))
    seen = []

    def record(epoch, logs):
        seen.append(([w.get_value() for w in model.trainable_weights],
                     [a.get_value() for _, a in model.optimizer.ema_pairs()]))

    swap = callbacks.SwapEMAWeights(swap_on_epoch=True)
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
              callbacks=[swap, callbacks.LambdaCallback(on_epoch_end=record)])
    in_model, stored = seen[0]
    assert not np.allclose(in_model[0], stored[0])  # the model holds the averages, the optimizer the weights
    final_model, final_stored = seen[-1]
    for a, b in zip(model.get_weights(), final_model, strict=True):
        np.testing.assert_array_equal(a, b)  # the averages of the last epoch stay in the model


def test_ema_state_is_saved_and_resumed(tmp_path):
    """fit ends by writing the averages into the weights (Keras); with 3 steps an epoch and an
    overwrite every 3 steps the weights already equal them, so resuming equals not stopping."""
    x, y = _data()
    whole = _ema_model(optimizers.Adam(0.05, use_ema=True, ema_overwrite_frequency=3))
    whole.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    half = _ema_model(optimizers.Adam(0.05, use_ema=True, ema_overwrite_frequency=3))
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "ema.theanine")
    resumed = models.load_model(tmp_path / "ema.theanine")
    assert resumed.optimizer.use_ema and resumed.optimizer.ema_overwrite_frequency == 3
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- ScheduleFreeAdamW, Muon


def _np_schedule_free(starts, gradients, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                      weight_decay=None):
    weights = [np.array(w, "float64") for w in starts]
    z = [w.copy() for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(gradients, start=1):
        rate = lr * min(t / warmup_steps, 1.0) if warmup_steps else lr
        for i, g in enumerate(grads):
            if weight_decay:
                weights[i] = weights[i] - weights[i] * weight_decay * lr
            z_old = z[i]
            v[i] = v[i] + (g * g - v[i]) * (1 - beta_2)
            z[i] = z_old - rate * g / (np.sqrt(v[i] / (1 - beta_2**t)) + epsilon)
            x = (weights[i] - (1 - beta_1) * z_old) / beta_1
            x = (1 - 1 / t) * x + z[i] / t
            weights[i] = (1 - beta_1) * z[i] + beta_1 * x
    return weights


@pytest.mark.parametrize("options", [{}, {"warmup_steps": 3, "weight_decay": 0.05, "beta_1": 0.8}])
def test_schedule_free_adamw_against_numpy(options):
    starts, gradients = _problem(seed=3, steps=5)
    _, history = _steps(optimizers.ScheduleFreeAdamW(0.01, **options), starts, gradients)
    for got, expected in zip(history[-1], _np_schedule_free(starts, gradients, 0.01, **options), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _np_orthogonalized(x, steps=5, a=3.4445, b=-4.7750, c=2.0315):
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if tall else x


def _np_muon(starts, names, gradients, lr, momentum=0.95, nesterov=True, rms_rate=0.2, weight_decay=0.004,
             adam_weight_decay=0.004, exclude_layers=(), adam_lr_ratio=1.0, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    weights = [np.array(w, "float64") for w in starts]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    adam = [w.ndim != 2 or "embedding" in n.lower() or any(p in n for p in exclude_layers)
            for w, n in zip(weights, names, strict=True)]
    for t, grads in enumerate(gradients, start=1):
        for i, g in enumerate(grads):
            decay = adam_weight_decay if adam[i] else weight_decay
            if decay:
                weights[i] = weights[i] - weights[i] * decay * lr
            if adam[i]:
                m[i] += (g - m[i]) * (1 - beta_1)
                v[i] += (g * g - v[i]) * (1 - beta_2)
                alpha = lr * adam_lr_ratio * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
                weights[i] = weights[i] - m[i] * alpha / (np.sqrt(v[i]) + epsilon)
            else:
                m[i] = momentum * m[i] + g
                update = lr * _np_orthogonalized(g + momentum * m[i] if nesterov else m[i])
                if rms_rate is not None:
                    update = update * np.sqrt(max(weights[i].shape)) * rms_rate
                weights[i] = weights[i] - update
    return weights


MUON_NAMES = ["dense/kernel", "wide/kernel", "dense/bias", "embedding/embeddings", "head/kernel"]


@pytest.mark.parametrize("options", [
    {"exclude_layers": ["head"]},
    {"nesterov": False, "rms_rate": None, "weight_decay": 0.1, "adam_weight_decay": None, "adam_lr_ratio": 0.5},
])
def test_muon_against_numpy(options):
    rng = np.random.default_rng(4)
    shapes = [(3, 2), (2, 4), (4,), (5, 3), (3, 3)]
    starts = [rng.normal(size=s) for s in shapes]
    gradients = [[rng.normal(size=s) for s in shapes] for _ in range(4)]
    optimizer = optimizers.Muon(0.02, **options)
    weights = [th.shared(np.array(w, "float32"), name=n) for w, n in zip(starts, MUON_NAMES, strict=True)]
    for grads in gradients:
        optimizer.apply_gradients(zip([g.astype("float32") for g in grads], weights, strict=True))
    expected = _np_muon(starts, MUON_NAMES, gradients, 0.02, **options)
    for weight, want in zip(weights, expected, strict=True):
        np.testing.assert_allclose(weight.get_value(), want, rtol=1e-4, atol=1e-5)
    slots = {v.name.split("/", 1)[1] for v in optimizer.variables()[2:]}
    assert "dense/kernel/velocity" not in slots and "embedding/embeddings/velocity" in slots


@pytest.mark.parametrize("make", [
    lambda: optimizers.Muon(0.01, exclude_layers=["out"], ns_steps=3, rms_rate=None),
    lambda: optimizers.ScheduleFreeAdamW(0.01, warmup_steps=2, weight_decay=0.01),
    lambda: optimizers.Lamb(0.01, weight_decay=0.01),
])
def test_newer_optimizers_config_fit_and_resume(make, tmp_path):
    again = optimizers.deserialize(optimizers.serialize(make()))
    assert again.get_config() == make().get_config()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")

    def model():
        th.set_seed(0)
        net = models.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2, name="out")])
        net.compile(optimizer=make(), loss="mse")
        return net

    whole, half = model(), model()
    whole.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "m.theanine")
    resumed = models.load_model(tmp_path / "m.theanine")
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert isinstance(optimizers.get(type(again).__name__.lower()), type(again))

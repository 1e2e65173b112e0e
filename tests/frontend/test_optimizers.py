"""Optimizers against NumPy re-implementations of Keras 3's update formulas.

Each rule runs several steps on the quadratic ``sum(scale * (w - target)^2) / 2``
(gradient ``scale * (w - target)``) for a matrix and a vector parameter; the
reference below is written independently from Keras' update_step code.
"""

import math

import numpy as np
import pytest

import theanine as th
from theanine.frontend import optimizers

STEPS = 5


# ----------------------------------------------------------------------------- NumPy references


def ref_sgd(w, g, s, t, lr, momentum=0.0, nesterov=False):
    if not momentum:
        return w - lr * g
    m = s.get("m", np.zeros_like(w))
    m = momentum * m - lr * g
    s["m"] = m
    return w + (momentum * m - lr * g if nesterov else m)


def ref_adam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    m = s.get("m", np.zeros_like(w)) * b1 + (1 - b1) * g
    v = s.get("v", np.zeros_like(w)) * b2 + (1 - b2) * g * g
    s["m"], s["v"] = m, v
    if amsgrad:
        v = s["vhat"] = np.maximum(s.get("vhat", np.zeros_like(w)), v)
    alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    return w - alpha * m / (np.sqrt(v) + eps)


def ref_rmsprop(w, g, s, t, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    v = s["v"] = rho * s.get("v", np.zeros_like(w)) + (1 - rho) * g * g
    if centered:
        a = s["a"] = rho * s.get("a", np.zeros_like(w)) + (1 - rho) * g
        inc = lr * g / np.sqrt(v - a * a + eps)
    else:
        inc = lr * g / np.sqrt(v + eps)
    if momentum:
        inc = s["m"] = momentum * s.get("m", np.zeros_like(w)) + inc
    return w - inc


def ref_adagrad(w, g, s, t, lr, init=0.1, eps=1e-7):
    acc = s["acc"] = s.get("acc", np.full_like(w, init)) + g * g
    return w - lr * g / np.sqrt(acc + eps)


def ref_adadelta(w, g, s, t, lr, rho=0.95, eps=1e-7):
    eg = s["eg"] = rho * s.get("eg", np.zeros_like(w)) + (1 - rho) * g * g
    ed = s.get("ed", np.zeros_like(w))
    delta = -np.sqrt(ed + eps) / np.sqrt(eg + eps) * g
    s["ed"] = rho * ed + (1 - rho) * delta * delta
    return w + lr * delta


def ref_nadam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    u_t = b1 * (1 - 0.5 * 0.96**t)
    u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
    product = s["shared"]["u_product"]  # already multiplied by u_t for this step
    m = s["m"] = s.get("m", np.zeros_like(w)) * b1 + (1 - b1) * g
    v = s["v"] = s.get("v", np.zeros_like(w)) * b2 + (1 - b2) * g * g
    m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
    v_hat = v / (1 - b2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamax(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    m = s["m"] = s.get("m", np.zeros_like(w)) * b1 + (1 - b1) * g
    u = s["u"] = np.maximum(b2 * s.get("u", np.zeros_like(w)), np.abs(g))
    return w - lr / (1 - b1**t) * m / (u + eps)


def ref_lion(w, g, s, t, lr, b1=0.9, b2=0.99):
    m = s.get("m", np.zeros_like(w))
    s["m"] = b2 * m + (1 - b2) * g
    return w - lr * np.sign(b1 * m + (1 - b1) * g)


def ref_ftrl(w, g, s, t, lr, power=-0.5, init=0.1, l1=0.0, l2=0.0, shrink=0.0, beta=0.0):
    n = s.get("n", np.full_like(w, init))
    z = s.get("z", np.zeros_like(w))
    g_shrunk = g + 2 * shrink * w
    n_new = n + g * g
    sigma = (n_new ** (-power) - n ** (-power)) / lr
    z = s["z"] = z + g_shrunk - sigma * w
    s["n"] = n_new
    quadratic = n_new ** (-power) / lr + 2 * (l2 + beta / (2 * lr))
    return np.where(np.abs(z) > l1, (np.sign(z) * l1 - z) / quadratic, 0.0)


def ref_adafactor(w, g, s, t, lr, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    rms = lambda x: np.sqrt(np.mean(x * x))  # noqa: E731
    b2 = 1 - t**decay
    sq = g * g + eps1
    if w.ndim >= 2:
        r = s["r"] = b2 * s.get("r", np.zeros(w.shape[:-1])) + (1 - b2) * sq.mean(axis=-1)
        c = s["c"] = b2 * s.get("c", np.zeros(w.shape[:-2] + w.shape[-1:])) + (1 - b2) * sq.mean(axis=-2)
        v = np.outer(r / r.mean(), c)
    else:
        v = s["v"] = b2 * s.get("v", np.zeros_like(w)) + (1 - b2) * sq
    u = g / np.sqrt(v)
    u = u / max(1.0, rms(u) / clip)
    return w - max(eps2, rms(w)) * min(lr, 1 / math.sqrt(t)) * u


def nadam_shared(shared, t, b1=0.9):
    shared["u_product"] = shared.get("u_product", 1.0) * b1 * (1 - 0.5 * 0.96**t)


# ----------------------------------------------------------------------------- harness


def _problem(rng):
    shapes = [(3, 2), (4,)]
    starts = [rng.normal(size=s).astype("float32") for s in shapes]
    targets = [rng.normal(size=s) for s in shapes]
    scales = [rng.uniform(0.5, 3.0, size=s) for s in shapes]
    return starts, targets, scales


def compile_step(optimizer, starts, targets, scales):
    """Shared parameters at ``starts`` and a compiled training step on the quadratic."""
    params = [th.shared(w, name=f"w{i}") for i, w in enumerate(starts)]
    loss = sum(
        th.sum(0.5 * th.constant(c.astype("float32")) * th.square(p - t.astype("float32")))
        for p, t, c in zip(params, targets, scales, strict=True)
    )
    return params, th.function(
        [], loss, updates=optimizer.get_updates(params, th.grad(loss, params))
    )


def run_theanine(optimizer, starts, targets, scales, steps=STEPS):
    params, step = compile_step(optimizer, starts, targets, scales)
    for _ in range(steps):
        step()
    return [p.get_value() for p in params]


def run_reference(
    rule,
    starts,
    targets,
    scales,
    lr=0.01,
    steps=STEPS,
    transform=None,
    shared_rule=None,
    weight_decay=None,
    **options,
):
    ws = [w.astype("float64") for w in starts]
    states = [{} for _ in ws]
    shared = {}
    for t in range(1, steps + 1):
        gs = [c * (w - tg) for w, tg, c in zip(ws, targets, scales, strict=True)]
        gs = transform(gs) if transform else gs
        if shared_rule:
            shared_rule(shared, t)
        rate = lr(t - 1) if callable(lr) else lr
        if weight_decay:
            ws = [w - w * weight_decay * rate for w in ws]
        for state in states:
            state["shared"] = shared
        ws = [rule(w, g, s, t, rate, **options) for w, g, s in zip(ws, gs, states, strict=True)]
    return ws


CASES = [
    ("sgd", lambda: optimizers.SGD(0.05), ref_sgd, {}, 0.05),
    ("sgd_momentum", lambda: optimizers.SGD(0.05, momentum=0.9), ref_sgd, {"momentum": 0.9}, 0.05),
    (
        "sgd_nesterov",
        lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True),
        ref_sgd,
        {"momentum": 0.8, "nesterov": True},
        0.05,
    ),
    ("adam", lambda: optimizers.Adam(0.1), ref_adam, {}, 0.1),
    (
        "adam_betas",
        lambda: optimizers.Adam(0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-3),
        ref_adam,
        {"b1": 0.5, "b2": 0.9, "eps": 1e-3},
        0.1,
    ),
    ("adam_amsgrad", lambda: optimizers.Adam(0.1, amsgrad=True), ref_adam, {"amsgrad": True}, 0.1),
    ("rmsprop", lambda: optimizers.RMSprop(0.01), ref_rmsprop, {}, 0.01),
    (
        "rmsprop_momentum",
        lambda: optimizers.RMSprop(0.01, momentum=0.5),
        ref_rmsprop,
        {"momentum": 0.5},
        0.01,
    ),
    (
        "rmsprop_centered",
        lambda: optimizers.RMSprop(0.01, centered=True, rho=0.8),
        ref_rmsprop,
        {"centered": True, "rho": 0.8},
        0.01,
    ),
    ("adagrad", lambda: optimizers.Adagrad(0.1), ref_adagrad, {}, 0.1),
    (
        "adagrad_init",
        lambda: optimizers.Adagrad(0.1, initial_accumulator_value=1.0, epsilon=1e-3),
        ref_adagrad,
        {"init": 1.0, "eps": 1e-3},
        0.1,
    ),
    ("adadelta", lambda: optimizers.Adadelta(1.0), ref_adadelta, {}, 1.0),
    (
        "adadelta_rho",
        lambda: optimizers.Adadelta(0.5, rho=0.5, epsilon=1e-4),
        ref_adadelta,
        {"rho": 0.5, "eps": 1e-4},
        0.5,
    ),
    ("adamax", lambda: optimizers.Adamax(0.1), ref_adamax, {}, 0.1),
    (
        "adamax_betas",
        lambda: optimizers.Adamax(0.1, beta_1=0.5, beta_2=0.8, epsilon=1e-3),
        ref_adamax,
        {"b1": 0.5, "b2": 0.8, "eps": 1e-3},
        0.1,
    ),
    ("lion", lambda: optimizers.Lion(0.05), ref_lion, {}, 0.05),
    (
        "lion_betas",
        lambda: optimizers.Lion(0.05, beta_1=0.5, beta_2=0.7),
        ref_lion,
        {"b1": 0.5, "b2": 0.7},
        0.05,
    ),
    ("ftrl", lambda: optimizers.Ftrl(0.5), ref_ftrl, {}, 0.5),
    (
        "ftrl_regularized",
        lambda: optimizers.Ftrl(
            0.5,
            learning_rate_power=-0.7,
            initial_accumulator_value=0.3,
            l1_regularization_strength=0.05,
            l2_regularization_strength=0.1,
            l2_shrinkage_regularization_strength=0.02,
            beta=0.2,
        ),
        ref_ftrl,
        {"power": -0.7, "init": 0.3, "l1": 0.05, "l2": 0.1, "shrink": 0.02, "beta": 0.2},
        0.5,
    ),
    ("adafactor", lambda: optimizers.Adafactor(0.1), ref_adafactor, {}, 0.1),
    (
        "adafactor_options",
        lambda: optimizers.Adafactor(
            0.8, beta_2_decay=-0.5, epsilon_1=1e-6, epsilon_2=0.5, clip_threshold=0.5
        ),
        ref_adafactor,
        {"decay": -0.5, "eps1": 1e-6, "eps2": 0.5, "clip": 0.5},
        0.8,
    ),
]


@pytest.mark.parametrize("name, make, rule, options, lr", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_keras_formula(name, make, rule, options, lr, rng):
    starts, targets, scales = _problem(rng)
    got = run_theanine(make(), starts, targets, scales)
    want = run_reference(rule, starts, targets, scales, lr=lr, **options)
    for g, w, s in zip(got, want, starts, strict=True):
        assert g.dtype == np.float32
        assert not np.allclose(g, s), "the optimizer did not move the weights"
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_nadam_matches_keras_formula(rng):
    starts, targets, scales = _problem(rng)
    got = run_theanine(optimizers.Nadam(0.05), starts, targets, scales)
    want = run_reference(ref_nadam, starts, targets, scales, lr=0.05, shared_rule=nadam_shared)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def test_adamw_decays_weights_before_the_adam_step(rng):
    starts, targets, scales = _problem(rng)
    got = run_theanine(optimizers.AdamW(0.1, weight_decay=0.05), starts, targets, scales)
    want = run_reference(ref_adam, starts, targets, scales, lr=0.1, weight_decay=0.05)
    plain = run_reference(ref_adam, starts, targets, scales, lr=0.1)
    for g, w, p in zip(got, want, plain, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
        assert not np.allclose(w, p, rtol=1e-4)


def test_adamw_default_weight_decay_is_keras():
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.Adam().weight_decay is None


# ----------------------------------------------------------------------------- clipping


def _clip_norm_each(gs, c=0.5):
    return [g * c / max(np.linalg.norm(g), c) for g in gs]


def _clip_global(gs, c=0.5):
    total = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
    return [g * c / max(total, c) for g in gs]


@pytest.mark.parametrize(
    "kwargs, transform",
    [
        ({"clipnorm": 0.5}, _clip_norm_each),
        ({"global_clipnorm": 0.5}, _clip_global),
        ({"clipvalue": 0.3}, lambda gs: [np.clip(g, -0.3, 0.3) for g in gs]),
    ],
    ids=["clipnorm", "global_clipnorm", "clipvalue"],
)
def test_gradient_clipping(kwargs, transform, rng):
    starts, targets, scales = _problem(rng)
    scales = [10 * c for c in scales]  # large gradients, so clipping is active
    got = run_theanine(optimizers.SGD(0.1, **kwargs), starts, targets, scales)
    want = run_reference(ref_sgd, starts, targets, scales, lr=0.1, transform=transform)
    unclipped = run_reference(ref_sgd, starts, targets, scales, lr=0.1)
    for g, w, u in zip(got, want, unclipped, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
        assert not np.allclose(w, u)


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="Only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm must be a positive float"):
        optimizers.Adam(clipnorm=-1.0)


# ----------------------------------------------------------------------------- learning rate


def test_learning_rate_changes_a_compiled_function():
    w = th.shared(np.array([1.0, -2.0], "float32"), name="w")
    opt = optimizers.SGD(0.1)
    loss = th.sum(th.square(w))
    step = th.function([], loss, updates=opt.get_updates([w], th.grad(loss, [w])))
    step()
    np.testing.assert_allclose(w.get_value(), [0.8, -1.6], rtol=1e-6)
    opt.learning_rate = 0.0
    assert opt.learning_rate == 0.0
    step()
    np.testing.assert_allclose(w.get_value(), [0.8, -1.6], rtol=1e-6)
    opt.learning_rate = 0.5
    step()
    np.testing.assert_allclose(w.get_value(), [0.0, 0.0], atol=1e-6)
    assert opt.iterations.get_value() == 3


def test_learning_rate_rejects_bad_values():
    with pytest.raises(ValueError, match="learning_rate must be a non-negative float"):
        optimizers.SGD(-1.0)
    with pytest.raises(TypeError, match="cannot be set"):
        optimizers.SGD(optimizers.ExponentialDecay(0.1, 10, 0.5)).learning_rate = 0.3


def _schedule_values(schedule, steps):
    step = th.scalar("step", dtype="int64")
    f = th.function([step], schedule(step))
    return np.array([float(f(np.int64(s))) for s in steps])


def test_exponential_decay():
    steps = [0, 1, 5, 10, 25]
    smooth = optimizers.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    stairs = optimizers.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    np.testing.assert_allclose(
        _schedule_values(smooth, steps), [0.1 * 0.5 ** (s / 10) for s in steps], rtol=1e-6
    )
    np.testing.assert_allclose(
        _schedule_values(stairs, steps), [0.1 * 0.5 ** (s // 10) for s in steps], rtol=1e-6
    )


def test_cosine_decay():
    steps = [0, 3, 10, 20, 40]
    schedule = optimizers.CosineDecay(0.2, decay_steps=20, alpha=0.1)
    want = [0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 20) / 20)) + 0.1) for s in steps]
    np.testing.assert_allclose(_schedule_values(schedule, steps), want, rtol=1e-6, atol=1e-7)


def test_cosine_decay_with_warmup():
    schedule = optimizers.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    steps = [0, 2, 4, 9, 14, 30]

    def keras(s):
        s = min(s, 14)
        if s < 4:
            return s / 4
        return 0.5 * (1 + math.cos(math.pi * (s - 4) / 10))

    np.testing.assert_allclose(
        _schedule_values(schedule, steps), [keras(s) for s in steps], rtol=1e-6, atol=1e-7
    )


def test_piecewise_constant_decay():
    schedule = optimizers.PiecewiseConstantDecay([3, 6], [1.0, 0.5, 0.1])
    np.testing.assert_allclose(
        _schedule_values(schedule, [0, 3, 4, 6, 7, 100]), [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    )
    with pytest.raises(ValueError, match="one more value than boundaries"):
        optimizers.PiecewiseConstantDecay([3], [1.0])


def test_optimizer_uses_schedule_at_iterations_before_increment(rng):
    starts, targets, scales = _problem(rng)
    schedule = optimizers.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(schedule)
    got = run_theanine(opt, starts, targets, scales)
    want = run_reference(ref_sgd, starts, targets, scales, lr=lambda it: 0.2 * 0.5 ** (it / 2))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    assert opt.learning_rate == pytest.approx(0.2 * 0.5 ** (STEPS / 2), rel=1e-6)


# ----------------------------------------------------------------------------- state and config


def test_variables_have_a_fixed_order_and_names(rng):
    opt = optimizers.Adam()
    starts, targets, scales = _problem(rng)
    run_theanine(opt, starts, targets, scales, steps=1)
    names = [v.name for v in opt.variables()]
    assert names == [
        "adam/iterations",
        "adam/learning_rate",
        "adam/w0/momentum",
        "adam/w0/velocity",
        "adam/w1/momentum",
        "adam/w1/velocity",
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.Adam(0.1, amsgrad=True),
        lambda: optimizers.Nadam(0.1),
        lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
        lambda: optimizers.Adafactor(0.1),
        lambda: optimizers.Ftrl(0.5),
    ],
    ids=["adam", "nadam", "rmsprop", "adafactor", "ftrl"],
)
def test_restored_state_resumes_identically(make, rng):
    starts, targets, scales = _problem(rng)
    first = make()
    params, step = compile_step(first, starts, targets, scales)
    for _ in range(3):
        step()
    middle = [p.get_value() for p in params]
    saved = first.get_variable_values()
    for _ in range(2):
        step()
    end = [p.get_value() for p in params]

    second = make()
    second.set_variable_values(saved)  # before the slots exist: applied when they are built
    assert len(second.get_variable_values()) == len(saved)
    resumed = run_theanine(second, middle, targets, scales, steps=2)
    fresh = run_theanine(make(), middle, targets, scales, steps=2)
    for a, b, c in zip(end, resumed, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c, rtol=1e-6, atol=0)
    assert second.iterations.get_value() == 5


def test_set_variable_values_checks_the_count(rng):
    opt = optimizers.Adam()
    run_theanine(opt, *_problem(rng), steps=1)
    with pytest.raises(ValueError, match="has 6 state variables"):
        opt.set_variable_values([np.int64(0)])


def test_learning_rate_is_restored_with_the_state():
    opt = optimizers.SGD(0.1)
    opt.learning_rate = 0.025
    other = optimizers.SGD(0.1)
    other.set_variable_values(opt.get_variable_values())
    assert other.learning_rate == pytest.approx(0.025)


@pytest.mark.parametrize(
    "opt",
    [
        optimizers.SGD(0.2, momentum=0.5, nesterov=True, clipnorm=1.0),
        optimizers.Adam(0.01, beta_1=0.8, amsgrad=True, global_clipnorm=2.0),
        optimizers.AdamW(weight_decay=0.1),
        optimizers.RMSprop(rho=0.7, momentum=0.1, centered=True, clipvalue=0.5),
        optimizers.Adagrad(initial_accumulator_value=0.5),
        optimizers.Adadelta(rho=0.9),
        optimizers.Nadam(beta_2=0.99),
        optimizers.Adam(optimizers.CosineDecay(0.1, 100, alpha=0.01)),
        optimizers.Adamax(0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-5, clipnorm=1.0),
        optimizers.Lion(beta_1=0.95, beta_2=0.98, weight_decay=0.01),
        optimizers.Ftrl(
            learning_rate_power=-0.6,
            initial_accumulator_value=0.2,
            l1_regularization_strength=0.01,
            l2_regularization_strength=0.02,
            l2_shrinkage_regularization_strength=0.03,
            beta=0.1,
        ),
        optimizers.Adafactor(beta_2_decay=-0.6, epsilon_2=1e-2, clip_threshold=2.0, relative_step=False),
        optimizers.SGD(optimizers.InverseTimeDecay(0.1, 10, 0.5, staircase=True)),
        optimizers.SGD(optimizers.PolynomialDecay(0.1, 10, 0.01, power=2.0, cycle=True)),
        optimizers.Adam(optimizers.CosineDecayRestarts(0.1, 10, t_mul=1.5, m_mul=0.8, alpha=0.1)),
    ],
    ids=lambda o: type(o).__name__,
)
def test_config_round_trip(opt):
    restored = optimizers.deserialize(optimizers.serialize(opt))
    assert type(restored) is type(opt)
    assert restored.get_config() == opt.get_config()


def test_get_by_name_and_errors():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert optimizers.get("sgd").learning_rate == pytest.approx(0.01)
    opt = optimizers.Nadam()
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match="Unknown optimizer 'adabelief'"):
        optimizers.get("adabelief")
    with pytest.raises(TypeError, match="Cannot interpret 3"):
        optimizers.get(3)


def test_none_gradients_are_skipped_but_not_all():
    w = th.shared(np.ones(2, "float32"), name="w")
    unused = th.shared(np.ones(2, "float32"), name="unused")
    opt = optimizers.SGD(0.5)
    updates = opt.get_updates([w, unused], [th.ones_like(w), None])
    assert [s.name for s, _ in updates] == ["w", "sgd/iterations"]
    with pytest.raises(ValueError, match="no gradients provided"):
        optimizers.SGD().get_updates([unused], [None])


def test_schedules_called_on_a_number_return_the_rate():
    """The training guide: ``lr_schedule(step)`` is a value, as a Keras schedule's tensor."""
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=100000, decay_rate=0.96, staircase=True)
    assert np.isclose(float(schedule(0)), 0.1) and np.isclose(float(schedule(250000)), 0.1 * 0.96**2)

    class Halving(optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.5 ** th.cast(step, "float32")

    assert np.isclose(float(Halving()(3)), 0.125)
    assert isinstance(schedule(th.lscalar("step")), th.Variable)


# ----------------------------------------------------------------------------- Keras 3 additions


def test_new_optimizers_have_keras_defaults():
    adamax, lion, ftrl = optimizers.get("adamax"), optimizers.get("lion"), optimizers.get("ftrl")
    assert (adamax.learning_rate, adamax.beta_1, adamax.beta_2, adamax.epsilon) == pytest.approx(
        (0.001, 0.9, 0.999, 1e-7)
    )
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == pytest.approx((0.001, 0.9, 0.99))
    config = ftrl.get_config()
    assert config["learning_rate"] == pytest.approx(0.001)
    assert {k: config[k] for k in Ftrl_DEFAULTS} == Ftrl_DEFAULTS
    adafactor = optimizers.get("adafactor").get_config()
    assert {k: adafactor[k] for k in ADAFACTOR_DEFAULTS} == ADAFACTOR_DEFAULTS
    assert [type(optimizers.get(n)) for n in ("Adamax", "Lion", "Ftrl", "Adafactor")] == [
        optimizers.Adamax, optimizers.Lion, optimizers.Ftrl, optimizers.Adafactor
    ]


ADAFACTOR_DEFAULTS = {
    "learning_rate": pytest.approx(0.001),
    "beta_2_decay": -0.8,
    "epsilon_1": 1e-30,
    "epsilon_2": 1e-3,
    "clip_threshold": 1.0,
    "relative_step": True,
}


Ftrl_DEFAULTS = {
    "learning_rate_power": -0.5,
    "initial_accumulator_value": 0.1,
    "l1_regularization_strength": 0.0,
    "l2_regularization_strength": 0.0,
    "l2_shrinkage_regularization_strength": 0.0,
    "beta": 0.0,
}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optimizers.Lion(beta_1=0.0), "Lion expects beta_1 in \\(0, 1\\]"),
        (lambda: optimizers.Ftrl(learning_rate_power=0.5), "learning_rate_power <= 0"),
        (lambda: optimizers.Ftrl(initial_accumulator_value=-1.0), "initial_accumulator_value >= 0"),
        (lambda: optimizers.Ftrl(l1_regularization_strength=-1.0), "l1_regularization_strength >= 0"),
        (lambda: optimizers.Adafactor(clip_threshold=0.0), "positive clip_threshold"),
        (lambda: optimizers.InverseTimeDecay(0.1, 0, 0.5), "positive decay_steps"),
        (lambda: optimizers.PolynomialDecay(0.1, -1), "positive decay_steps"),
        (lambda: optimizers.CosineDecayRestarts(0.1, 0), "positive first_decay_steps"),
    ],
)
def test_new_rules_reject_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_inverse_time_decay():
    steps = [0, 1, 5, 10, 25]
    smooth = optimizers.schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)
    stairs = optimizers.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    np.testing.assert_allclose(
        _schedule_values(smooth, steps), [0.1 / (1 + 0.5 * s / 10) for s in steps], rtol=1e-6
    )
    np.testing.assert_allclose(
        _schedule_values(stairs, steps), [0.1 / (1 + 0.5 * (s // 10)) for s in steps], rtol=1e-6
    )


def _polynomial(s, initial=0.1, decay_steps=10, end=0.01, power=2.0, cycle=False):
    if cycle:
        decay_steps = decay_steps * (1 if s == 0 else math.ceil(s / decay_steps))
    else:
        s = min(s, decay_steps)
    return (initial - end) * (1 - s / decay_steps) ** power + end


def test_polynomial_decay():
    steps = [0, 3, 10, 14, 20, 27, 50]
    capped = optimizers.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0)
    cycled = optimizers.schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0, cycle=True)
    np.testing.assert_allclose(
        _schedule_values(capped, steps), [_polynomial(s) for s in steps], rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        _schedule_values(cycled, steps), [_polynomial(s, cycle=True) for s in steps], rtol=1e-6, atol=1e-8
    )
    default = optimizers.PolynomialDecay(0.1, 10)
    np.testing.assert_allclose(_schedule_values(default, [5, 30]), [0.05005, 0.0001], rtol=1e-5)


def _sgdr(s, initial=0.1, first=10, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """Walk the restart periods one by one (independent of Keras' closed form)."""
    period, peak = float(first), 1.0
    while s >= period:
        s -= period
        period *= t_mul
        peak *= m_mul
    cosine = 0.5 * peak * (1 + math.cos(math.pi * s / period))
    return initial * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize(
    "options", [{}, {"t_mul": 1.0, "m_mul": 0.5}, {"t_mul": 1.5, "m_mul": 0.8, "alpha": 0.1}]
)
def test_cosine_decay_restarts(options):
    steps = [0, 4, 9, 10, 11, 23, 29, 31, 55, 69, 71, 100]
    schedule = optimizers.CosineDecayRestarts(0.1, 10, **options)
    np.testing.assert_allclose(
        _schedule_values(schedule, steps), [_sgdr(s, **options) for s in steps], rtol=2e-5, atol=1e-7
    )
    assert optimizers.CosineDecayRestarts(0.1, 10).get_config()["name"] == "SGDRDecay"


@pytest.mark.parametrize("name", ["adamax", "lion", "ftrl", "adafactor"])
def test_new_optimizers_by_name_in_model_compile(name):
    from theanine.frontend import layers, models

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    model = models.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer).__name__.lower() == name
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert int(model.optimizer.iterations.get_value()) == 4
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_adafactor_factors_matrices_and_saves_its_state(rng):
    """A matrix keeps a row and a column slot; a vector a full velocity (its row and column: scalars)."""
    starts, targets, scales = _problem(rng)
    opt = optimizers.Adafactor(0.1)
    run_theanine(opt, starts, targets, scales, steps=2)
    shapes = {v.name.split("/", 1)[1]: v.get_value().shape for v in opt.variables()[2:]}
    assert shapes == {
        "w0/row": (3,), "w0/column": (2,), "w0/velocity": (3, 2),
        "w1/row": (), "w1/column": (), "w1/velocity": (4,),
    }


@pytest.mark.parametrize("name", ["adafactor", "ftrl"])
def test_saved_model_resumes_new_optimizers_identically(name, tmp_path):
    """model.save keeps the slots (Adafactor's of other shapes too): resuming equals not stopping."""
    from theanine.frontend import layers, models

    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")

    def model():
        th.set_seed(0)
        net = models.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
        net.compile(optimizer=optimizers.get(name).__class__(0.05), loss="mse")
        return net

    whole, half = model(), model()
    whole.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "half.theanine")
    resumed = models.load_model(tmp_path / "half.theanine")
    assert type(resumed.optimizer) is type(whole.optimizer)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

"""Initializers: Keras' fan rules and statistics, seeding, configs."""

import math

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.frontend import initializers, seeding

TRUNCATED_STD = 0.87962566103423978  # stddev of N(0, 1) truncated to [-2, 2]


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((20, 30), (20, 30)),
        ((3, 3, 16, 32), (144, 288)),
        ((5, 4, 8), (20, 40)),
    ],
)
def test_compute_fans(shape, fans):
    assert initializers.compute_fans(shape) == fans


@pytest.mark.parametrize(
    "name, scale, mode",
    [
        ("glorot_uniform", 1.0, "fan_avg"),
        ("he_uniform", 2.0, "fan_in"),
        ("lecun_uniform", 1.0, "fan_in"),
    ],
)
def test_uniform_variance_scaling(name, scale, mode):
    shape = (3, 3, 40, 60)
    fan_in, fan_out = 360, 540
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3 * scale / n)
    w = initializers.get({"class_name": name, "config": {"seed": 1}})(shape)
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.01 * limit


@pytest.mark.parametrize(
    "name, scale, mode",
    [
        ("glorot_normal", 1.0, "fan_avg"),
        ("he_normal", 2.0, "fan_in"),
        ("lecun_normal", 1.0, "fan_in"),
    ],
)
def test_truncated_normal_variance_scaling(name, scale, mode):
    shape = (200, 300)
    n = {"fan_in": 200, "fan_avg": 250}[mode]
    std = math.sqrt(scale / n)
    w = initializers.get({"class_name": name, "config": {"seed": 1}})(shape, "float64")
    assert w.dtype == np.float64
    assert w.std() == pytest.approx(
        std, rel=0.02
    )  # the target variance, after the truncation correction
    assert np.abs(w).max() <= 2 * std / TRUNCATED_STD  # cut at two stddevs of the untruncated law
    beyond_one_sigma = (
        scipy.special.erfc(1 / math.sqrt(2)) - scipy.special.erfc(math.sqrt(2))
    ) / scipy.special.erf(math.sqrt(2))  # P(1 < |Z| < 2) / P(|Z| < 2) for the truncated law
    assert np.mean(np.abs(w) > std / TRUNCATED_STD) == pytest.approx(beyond_one_sigma, abs=0.005)


def test_variance_scaling_untruncated_and_errors():
    w = initializers.VarianceScaling(
        scale=4.0, mode="fan_out", distribution="untruncated_normal", seed=1
    )((100, 400))
    assert w.std() == pytest.approx(math.sqrt(4.0 / 400), rel=0.02)
    assert np.abs(w).max() > 3 * math.sqrt(4.0 / 400)
    with pytest.raises(ValueError, match="mode in"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="positive scale"):
        initializers.VarianceScaling(scale=0.0)


def test_random_normal_uniform_truncated():
    normal = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=3)((400, 100))
    assert normal.mean() == pytest.approx(1.0, abs=0.01) and normal.std() == pytest.approx(
        0.5, rel=0.02
    )
    uniform = initializers.RandomUniform(minval=-2.0, maxval=1.0, seed=3)((400, 100))
    assert (
        uniform.min() >= -2.0
        and uniform.max() < 1.0
        and uniform.mean() == pytest.approx(-0.5, abs=0.02)
    )
    truncated = initializers.TruncatedNormal(stddev=0.1, seed=3)((400, 100))
    assert np.abs(truncated).max() <= 0.2 and truncated.std() == pytest.approx(
        0.1 * TRUNCATED_STD, rel=0.02
    )
    defaults = initializers.RandomNormal().get_config()
    assert defaults == {"mean": 0.0, "stddev": 0.05, "seed": None}


def test_constant_initializers():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3), "float32"))
    np.testing.assert_array_equal(initializers.get("ones")((4,), "float64"), np.ones(4))
    np.testing.assert_array_equal(
        initializers.Constant(2.5)((2, 2)), np.full((2, 2), 2.5, "float32")
    )
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((2, 3)), 3 * np.eye(2, 3))
    with th.config.context(floatX="float64"):
        assert initializers.Zeros()((2,)).dtype == np.float64


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (2, 3, 5)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=0)(shape, "float64")
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(flat.shape)), atol=1e-10)
    with pytest.raises(ValueError, match="rank >= 2"):
        initializers.Orthogonal()((5,))


def test_seeded_initializers_repeat_and_differ_by_seed():
    a = initializers.GlorotUniform(seed=7)((5, 5))
    np.testing.assert_array_equal(a, initializers.GlorotUniform(seed=7)((5, 5)))
    np.testing.assert_array_equal(a, initializers.GlorotUniform(seed=7)((5, 5)))
    assert not np.array_equal(a, initializers.GlorotUniform(seed=8)((5, 5)))


def test_unseeded_initializers_follow_th_set_seed():
    init = initializers.HeNormal()
    th.set_seed(11)
    first = [init((4, 4)), init((4, 4))]
    assert not np.array_equal(first[0], first[1])
    th.set_seed(11)
    second = [init((4, 4)), init((4, 4))]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    th.set_seed(12)
    assert not np.array_equal(init((4, 4)), first[0])


def test_seed_sequence_is_deterministic_per_seed():
    th.set_seed(5)
    seeds = [seeding.next_seed() for _ in range(3)]
    th.set_seed(5)
    assert [seeding.next_seed() for _ in range(3)] == seeds
    assert len(set(seeds)) == 3 and all(0 <= s < 2**63 for s in seeds)
    assert seeding.derive_seed(5, 0) == seeds[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-negative ints. Received: shape=\\(2, -1\\)"):
        initializers.Zeros()((2, -1))
    with pytest.raises(ValueError, match="seed must be None or a non-negative int"):
        initializers.GlorotUniform(seed=-3)
    with pytest.raises(ValueError, match="Unknown initializer 'xavier'"):
        initializers.get("xavier")


@pytest.mark.parametrize(
    "init",
    [
        initializers.GlorotUniform(seed=1),
        initializers.HeNormal(),
        initializers.Constant(0.3),
        initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=4),
        initializers.Orthogonal(gain=0.5, seed=2),
        initializers.RandomUniform(-1.0, 2.0, seed=9),
        initializers.Zeros(),
    ],
    ids=lambda i: type(i).__name__,
)
def test_config_round_trip(init):
    restored = initializers.get(initializers.serialize(init))
    assert type(restored) is type(init)
    assert restored.get_config() == init.get_config()
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(restored((3, 4)), init((3, 4)))


def test_get_accepts_names_classes_instances_and_none():
    assert type(initializers.get("glorot_uniform")) is initializers.GlorotUniform
    assert type(initializers.get("HeUniform")) is initializers.HeUniform
    assert type(initializers.get(initializers.LecunNormal)) is initializers.LecunNormal
    init = initializers.Ones()
    assert initializers.get(init) is init
    assert initializers.get(None) is None
    assert initializers.serialize(None) is None

"""``keras.random`` distributions by inverse CDF (truncated_normal, gamma, beta, binomial) and
categorical by Gumbel-max: seeding, shapes, dtypes, and moments / KS tests with fixed seeds."""

import numpy as np
import pytest
import scipy.stats

import theanine as th
import theanine.frontend as keras
from theanine.frontend import layers

N = 20000


def test_truncated_normal_moments_and_bounds():
    values = keras.random.truncated_normal((N,), mean=1.0, stddev=2.0, seed=1)
    assert values.dtype == np.float32 and values.shape == (N,)
    assert values.min() >= -3.0 and values.max() <= 5.0
    truncated = scipy.stats.truncnorm(-2, 2, loc=1.0, scale=2.0)
    assert abs(values.mean() - 1.0) < 0.04
    assert abs(values.var() - truncated.var()) < 0.08  # 3.09; an untruncated draw would give 4
    assert scipy.stats.kstest(values, truncated.cdf).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.3, 2.0, 9.0])
def test_gamma_follows_the_gamma_distribution(alpha):
    values = keras.random.gamma((N,), alpha, dtype="float64", seed=2)
    assert values.dtype == np.float64 and values.min() > 0
    assert abs(values.mean() - alpha) < 4 * np.sqrt(alpha / N)
    assert scipy.stats.kstest(values, scipy.stats.gamma(alpha).cdf).pvalue > 1e-3


def test_beta_follows_the_beta_distribution():
    values = keras.random.beta((200, 100), 2.0, 5.0, seed=3)
    assert values.shape == (200, 100) and values.dtype == np.float32
    assert abs(values.mean() - 2 / 7) < 0.005
    assert scipy.stats.kstest(values.ravel(), scipy.stats.beta(2, 5).cdf).pvalue > 1e-3


def test_binomial_counts_and_edge_probabilities():
    values = keras.random.binomial((N,), counts=10.0, probabilities=0.3, seed=4)
    assert values.dtype == np.float32 and set(np.unique(values)) <= set(range(11))
    assert abs(values.mean() - 3.0) < 0.05 and abs(values.var() - 2.1) < 0.1
    frequencies = np.bincount(values.astype(int), minlength=11) / N
    np.testing.assert_allclose(frequencies, scipy.stats.binom(10, 0.3).pmf(range(11)), atol=0.01)
    edges = keras.random.binomial((3,), counts=np.array([4.0, 4.0, 0.0]), probabilities=np.array([0.0, 1.0, 0.5]),
                                  seed=5)
    np.testing.assert_array_equal(edges, [0.0, 4.0, 0.0])
    with pytest.raises(ValueError, match="counts must be non-negative whole numbers"):
        keras.random.binomial((2,), counts=2.5, probabilities=0.5, seed=1)


def test_categorical_frequencies_follow_the_softmax():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    samples = keras.random.categorical(np.log(probabilities).astype("float32"), N, seed=6)
    assert samples.dtype == np.int32 and samples.shape == (2, N)
    for row, p in zip(samples, probabilities, strict=True):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / N, p, atol=0.012)
    with pytest.raises(ValueError, match=r"logits of shape \(batch, classes\)"):
        keras.random.categorical(np.zeros(3), 2)


@pytest.mark.parametrize("draw", [
    lambda seed: keras.random.truncated_normal((5,), seed=seed),
    lambda seed: keras.random.gamma((5,), 1.5, seed=seed),
    lambda seed: keras.random.beta((5,), 1.0, 2.0, seed=seed),
    lambda seed: keras.random.binomial((5,), 3.0, 0.5, seed=seed),
    lambda seed: keras.random.categorical(np.zeros((1, 4), "float32"), 5, seed=seed),
])
def test_seeds_repeat_and_generators_advance(draw):
    np.testing.assert_array_equal(draw(11), draw(11))
    generator = keras.random.SeedGenerator(7)
    first, second = draw(generator), draw(generator)
    assert first.shape == second.shape and not np.array_equal(np.r_[first.ravel(), draw(12).ravel()],
                                                               np.r_[second.ravel(), draw(12).ravel()])


def test_draws_inside_a_graph_are_symbolic_and_fresh_every_run():
    class Noisy(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.generator = keras.random.SeedGenerator(3)

        def call(self, x):
            return x + keras.random.gamma(th.shape(x), 2.0, seed=self.generator)

    x = th.matrix("x")
    f = th.function([x], Noisy()(x))
    first, second = f(np.zeros((2, 3), "float32")), f(np.zeros((2, 3), "float32"))
    assert first.shape == (2, 3) and first.min() > 0 and not np.array_equal(first, second)

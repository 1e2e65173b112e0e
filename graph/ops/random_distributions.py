"""More random ops by inverse CDF: truncated normal, gamma and binomial draws.

Each draws one 53-bit uniform ``u`` per value (two Philox words, from the
same stream machinery as ``random.py``) and maps it through the inverse of
the distribution's CDF with SciPy's special functions, in float64:
``ndtri`` (the normal quantile, on ``u`` rescaled to ``[Phi(-2), Phi(2)]``),
``gammaincinv`` (gamma with shape ``alpha`` and scale 1) and the binomial
quantile (``bdtrik`` rounded up, then stepped back where ``bdtr`` already
reaches ``u``, as ``scipy.stats.binom.ppf`` does).  Inversion uses a fixed
number of words per value, so a draw is a pure function of the stream's
state.  ``beta`` is ``X / (X + Y)`` for two gamma draws.  None of them has
a gradient (as every random op).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from theanine.graph.config import config
from theanine.graph.ops.random import RandomOp, RandomStream, _FloatRandomOp, _u53

__all__ = ["TruncatedNormal", "Gamma", "Binomial", "truncated_normal", "gamma", "beta", "binomial"]

_PHI_MINUS_2, _PHI_PLUS_2 = scipy.special.ndtr(-2.0), scipy.special.ndtr(2.0)


def _uniform53(words: np.ndarray, n: int) -> np.ndarray:
    """``n`` float64 values in ``(0, 1)`` (53 bits; shifted by half a step so 0 never occurs)."""
    return _u53(words[0:2 * n:2], words[1:2 * n:2]) + 2.0**-54


class _InverseCdfOp(_FloatRandomOp):
    """A float draw from two words per value."""

    def n_words(self, n, params):
        return 2 * n


class TruncatedNormal(_InverseCdfOp):
    """Gaussian ``mean + std * z`` with ``z`` restricted to ``[-2, 2]`` (Keras' truncation)."""

    param_names = ("mean", "std")

    def sample(self, words, n, params, size):
        mean, std = params
        z = scipy.special.ndtri(_PHI_MINUS_2 + (_PHI_PLUS_2 - _PHI_MINUS_2) * _uniform53(words, n))
        return mean + std * z


class Gamma(_InverseCdfOp):
    """Gamma with shape ``alpha`` (> 0) and scale 1."""

    param_names = ("alpha",)

    def param_dtype(self, index):
        return "float64"

    def sample(self, words, n, params, size):
        (alpha,) = params
        if np.any(alpha <= 0):
            raise ValueError(f"gamma: alpha must be positive. Received a minimum of {alpha.min()}")
        return scipy.special.gammaincinv(alpha, _uniform53(words, n))


class Binomial(RandomOp):
    """Successes in ``counts`` trials (integral values >= 0) of probability ``p`` (in [0, 1])."""

    param_names = ("counts", "p")

    def param_dtype(self, index):
        return "float64"

    def n_words(self, n, params):
        return 2 * n

    def sample(self, words, n, params, size):
        counts, p = params
        if np.any(counts < 0) or np.any(counts != np.round(counts)):
            raise ValueError("binomial: counts must be non-negative whole numbers")
        if np.any((p < 0) | (p > 1)):
            raise ValueError("binomial: probabilities must lie in [0, 1]")
        u = _uniform53(words, n)
        inner = (p > 0) & (p < 1) & (counts > 0)
        guess = np.ceil(scipy.special.bdtrik(u, counts, np.where(inner, p, 0.5)))
        below = np.maximum(np.nan_to_num(guess) - 1, 0).astype(np.int64)
        reached = scipy.special.bdtr(below, counts.astype(np.int64), np.where(inner, p, 0.5)) >= u
        quantile = np.where(reached, below, guess)
        return np.where(inner, np.clip(quantile, 0, counts), np.where(p >= 1, counts, 0.0))


def truncated_normal(stream: RandomStream, size, mean=0.0, std=1.0, dtype=None):
    """Normal values within two standard deviations of ``mean``."""
    return stream._draw(TruncatedNormal(dtype or config.floatX), size, mean, std)


def gamma(stream: RandomStream, size, alpha, dtype=None):
    """Gamma values of shape ``alpha`` and scale 1."""
    return stream._draw(Gamma(dtype or config.floatX), size, alpha)


def beta(stream: RandomStream, size, alpha, beta, dtype=None):
    """Beta values: ``X / (X + Y)``, ``X ~ Gamma(alpha)``, ``Y ~ Gamma(beta)``."""
    x, y = gamma(stream, size, alpha, "float64"), gamma(stream, size, beta, "float64")
    return (x / (x + y)).astype(dtype or config.floatX)


def binomial(stream: RandomStream, size, counts, p, dtype=None):
    """Binomial counts of successes, as ``dtype`` (floatX by default, as Keras)."""
    return stream._draw(Binomial(dtype or config.floatX), size, counts, p)

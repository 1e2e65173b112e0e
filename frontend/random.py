"""``keras.random``: random tensors, eager at top level, symbolic inside a traced call.

``seed`` is what Keras takes: None (theanine's default stream, which
``th.set_seed`` / ``utils.set_random_seed`` restart), an int (a fresh
stream of that seed: the same numbers for the same seed), or a
``SeedGenerator`` (a stream of its own that advances with every draw, in
eager calls and, inside a compiled step, at every run of the step).

Called at top level with a static shape, a function returns a NumPy array
(drawn through the NumPy reference backend, which applies the stream's
update); inside a layer's ``call``, a custom ``train_step`` or any graph
being built (or with a symbolic shape) it returns the symbolic draw.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import seeding
from theanine.frontend.call_context import current_call_context
from theanine.graph.basic import Variable
from theanine.graph.ops import random_distributions

__all__ = ["SeedGenerator", "normal", "uniform", "randint", "dropout", "shuffle", "truncated_normal", "gamma", "beta",
           "binomial", "categorical"]


class SeedGenerator:
    """A random stream of its own (Keras' ``keras.random.SeedGenerator(seed)``)."""

    def __init__(self, seed: int | None = None):
        self.seed = int(seeding.next_seed() if seed is None else seed)
        self.stream = th.random.RandomStream(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _stream(seed) -> th.random.RandomStream:
    if seed is None:
        return th.random.default_stream()
    if isinstance(seed, SeedGenerator):
        return seed.stream
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"keras.random: seed must be None, an int or a SeedGenerator. Received: {seed!r}")
    return th.random.RandomStream(int(seed))


def _symbolic(*values) -> bool:
    return current_call_context() is not None or any(
        isinstance(v, Variable) or (isinstance(v, (list, tuple)) and any(isinstance(e, Variable) for e in v))
        for v in values
    )


def _result(sample, *arguments):
    """The symbolic ``sample`` inside a graph, else its value now (the stream advancing)."""
    if _symbolic(*arguments):
        return sample
    return th.function([], sample, backend="numpy", name="keras_random")()


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Gaussian values of ``shape`` (dtype default ``config.floatX``)."""
    return _result(_stream(seed).normal(shape, mean, stddev, dtype), shape, mean, stddev)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Values uniform in ``[minval, maxval)``."""
    return _result(_stream(seed).uniform(shape, minval, maxval, dtype), shape, minval, maxval)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in ``[minval, maxval)``."""
    return _result(_stream(seed).integers(minval, maxval, shape, dtype), shape, minval, maxval)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with a fraction ``rate`` of entries zeroed and the rest scaled by ``1 / (1 - rate)``."""
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1). Received: rate={rate!r}")
    x = th.as_tensor_variable(inputs)
    shape = th.shape(x) if noise_shape is None else noise_shape
    keep = th.less(_stream(seed).uniform(shape, dtype=x.dtype), np.asarray(1.0 - rate, x.dtype))
    return _result(th.where(keep, x / np.asarray(1.0 - rate, x.dtype), th.zeros_like(x)), inputs)


def shuffle(x, axis: int = 0, seed=None):
    """``x`` with its entries along ``axis`` in a random order."""
    x_var = th.as_tensor_variable(x)
    order = _stream(seed).permutation(th.shape(x_var)[axis])
    return _result(th.take(x_var, order, axis=axis), x)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Gaussian values of ``shape`` kept within two ``stddev`` of ``mean`` (drawn by inverse CDF)."""
    sample = random_distributions.truncated_normal(_stream(seed), shape, mean, stddev, dtype)
    return _result(sample, shape, mean, stddev)


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma values of shape parameter ``alpha`` (scale 1)."""
    return _result(random_distributions.gamma(_stream(seed), shape, alpha, dtype), shape, alpha)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta values with parameters ``alpha`` and ``beta`` (from two gamma draws)."""
    return _result(random_distributions.beta(_stream(seed), shape, alpha, beta, dtype), shape, alpha, beta)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Successes in ``counts`` trials of probability ``probabilities``, as floats (Keras' default)."""
    sample = random_distributions.binomial(_stream(seed), shape, counts, probabilities, dtype)
    return _result(sample, shape, counts, probabilities)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits`` ``(batch, classes)``: the Gumbel-max trick,
    ``argmax(logits - log(-log(u)))``, one ``u`` per (row, sample, class)."""
    x = th.as_tensor_variable(logits)
    if x.ndim != 2:
        raise ValueError(f"keras.random.categorical expects logits of shape (batch, classes). Received: {x.type}")
    shape = (x.shape[0], int(num_samples), x.shape[1])
    u = _stream(seed).uniform(shape, dtype="float64")
    gumbel = -th.log(-th.log(u + np.float64(2.0**-54)))
    choice = th.argmax(th.cast(th.expand_dims(x, 1), "float64") + gumbel, axis=-1)
    return _result(th.cast(choice, dtype), logits)

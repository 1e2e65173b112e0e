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

__all__ = ["SeedGenerator", "normal", "uniform", "randint", "dropout", "shuffle"]


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

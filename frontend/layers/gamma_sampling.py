"""Gamma, Beta and Dirichlet draws from a ``RandomStream`` (which has uniform and normal draws only),
for MixUp, CutMix and AugMix.

``log_gamma`` uses Marsaglia and Tsang's method for shape ``a + 1``, then
``Gamma(a) = Gamma(a + 1) * U^(1/a)``, in logarithms so that tiny shapes
(CutMix draws ``alpha`` down to 1e-6) neither underflow nor divide zero by
zero.  The rejection step is vectorized: ``TRIES`` proposals per draw, the
first accepted one is kept (for shapes >= 1 each is accepted with
probability above 0.95, so all ``TRIES`` fail with probability below 1e-10;
the last proposal is kept then).
"""

from __future__ import annotations

import numpy as np

import theanine as th

__all__ = ["log_gamma", "beta", "dirichlet"]

TRIES = 8


def log_gamma(stream, shape: float | th.Variable, size, dtype: str):
    """``log`` of Gamma(``shape``, 1) draws of ``size`` (a tuple; entries may be symbolic)."""
    shape = th.cast(th.as_tensor_variable(shape), dtype)
    d = shape + np.asarray(1.0 - 1.0 / 3.0, dtype)
    c = 1.0 / th.sqrt(9.0 * d)
    normals = stream.normal(size=(TRIES, *size), dtype=dtype)
    uniforms = stream.uniform(size=(TRIES, *size), dtype=dtype)
    v = (1.0 + c * normals) ** 3
    positive = th.gt(v, 0.0)
    safe_v = th.where(positive, v, th.ones_like(v))
    accept = th.logical_and(positive, th.lt(th.log(uniforms),
                                            0.5 * normals * normals + d - d * safe_v + d * th.log(safe_v)))
    accept = th.set_subtensor(accept[TRIES - 1], th.ones_like(accept[TRIES - 1]))
    first = th.argmax(th.cast(accept, "int8"), axis=0)
    tries = np.arange(TRIES).reshape((TRIES,) + (1,) * len(size))
    chosen = th.sum(th.where(th.eq(tries, first), th.log(safe_v), th.zeros_like(safe_v)), axis=0)
    boost = th.log(stream.uniform(size=size, dtype=dtype)) / shape
    return th.log(d) + chosen + boost


def beta(stream, a, b, size, dtype: str):
    """Beta(``a``, ``b``) draws: ``G_a / (G_a + G_b)`` as a sigmoid of the log difference."""
    return th.sigmoid(log_gamma(stream, a, size, dtype) - log_gamma(stream, b, size, dtype))


def dirichlet(stream, alpha: float, count: int, dtype: str):
    """One Dirichlet(``alpha``, ..., ``alpha``) draw of ``count`` weights summing to 1."""
    logs = log_gamma(stream, alpha, (count,), dtype)
    return th.softmax(logs)

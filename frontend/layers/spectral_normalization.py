"""``SpectralNormalization``: a wrapper that divides a layer's kernel by its largest singular value.

As Keras 3: ``vector_u`` (1, kernel.shape[-1]), non-trainable, starts
from TruncatedNormal(stddev=0.02).  In training, ``power_iterations``
steps of ``v = normalize(u @ W.T)``, ``u = normalize(v @ W)`` (``W`` the
kernel as a matrix of its last axis; ``normalize`` is ``x * min(1 /
||x||, 1e7)``) estimate ``sigma = v @ W @ u.T`` (u and v held constant for
the gradient); the wrapped layer then runs with ``kernel / sigma``, and
``vector_u`` and the kernel are assigned the new values.  An all-zero
kernel is left as it is.  Outside training the layer runs with its
kernel as stored.

Under ``fit`` the optimizer owns the kernel: its gradient step (taken
through ``kernel / sigma``) is what is stored, and only ``vector_u``
takes the new value, as with Keras on its JAX backend; an eager call
with ``training=True`` assigns both, as Keras does.  Weights, in
Keras' order: the kernel, ``vector_u``, the layer's other weights.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import initializers
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.wrappers import Wrapper
from theanine.graph.basic import clone_replace

__all__ = ["SpectralNormalization"]

_EPSILON = 1e-7


def _l2_normalize(x):
    """Keras' ``ops.normalize(x, axis=None)``: ``x * min(rsqrt(sum(x**2)), 1 / epsilon)``."""
    inverse = th.minimum(1.0 / th.sqrt(th.sum(x * x)), np.asarray(1.0 / _EPSILON, x.dtype))
    return x * inverse


@register_layer
class SpectralNormalization(Wrapper):
    """Spectral normalization of the wrapped layer's ``kernel`` (or ``embeddings``); see the module
    docstring."""

    def __init__(self, layer, power_iterations: int = 1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, (int, np.integer)) \
                or power_iterations <= 0:
            raise ValueError("`power_iterations` should be greater than zero. Received: "
                             f"`power_iterations={power_iterations!r}`")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape) -> None:
        super().build(input_shape)
        name = next((n for n in ("kernel", "embeddings") if getattr(self.layer, n, None) is not None), None)
        if name is None:
            raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'")
        self._kernel_name = name
        kernel = getattr(self.layer, name)
        record = next(r for r in self.layer._weight_records if r.variable is kernel)
        self._weight_records.insert(0, record)  # Keras lists the kernel first, as a weight of the wrapper
        object.__setattr__(self, "kernel", kernel)
        self.kernel_shape = tuple(kernel.get_value(borrow=True).shape)
        self.vector_u = self.add_weight(shape=(1, self.kernel_shape[-1]),
                                        initializer=initializers.TruncatedNormal(stddev=0.02),
                                        trainable=False, name="vector_u", dtype=kernel.dtype)

    def _rename(self, name: str) -> None:
        """Rename the wrapper's own weights only: the kernel keeps the wrapped layer's name."""
        kernel = self.__dict__.get("kernel")
        borrowed = [r for r in self._weight_records if r.variable is kernel]
        own = [r for r in self._weight_records if r.variable is not kernel]
        object.__setattr__(self, "_weight_records", own)
        try:
            super()._rename(name)
        finally:
            object.__setattr__(self, "_weight_records", borrowed + own)

    def normalized_weights(self):
        """``(new vector_u, kernel / sigma)`` as symbolic values (the current ones for an all-zero kernel)."""
        weights = th.reshape(self.kernel, (-1, self.kernel_shape[-1]))
        u = self.vector_u
        for _ in range(self.power_iterations):
            v = _l2_normalize(th.matmul(u, weights.T))
            u = _l2_normalize(th.matmul(v, weights))
        u, v = th.stop_gradient(u), th.stop_gradient(v)
        sigma = th.matmul(th.matmul(v, weights), u.T)[0, 0]
        zero = th.all(th.eq(self.kernel, 0))
        sigma = th.where(zero, th.ones_like(sigma), sigma)
        return th.where(zero, self.vector_u, u), self.kernel / sigma

    def call(self, inputs, training=None):
        outputs = self.layer(inputs, training=training)
        if not training:
            return outputs
        vector_u, kernel = self.normalized_weights()
        self.add_update((self.vector_u, vector_u))
        self.add_update((self.kernel, kernel))
        return clone_replace([outputs], {self.kernel: kernel}, strict=False)[0]

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "power_iterations": self.power_iterations}

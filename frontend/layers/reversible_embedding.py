"""ReversibleEmbedding (Keras 3): an Embedding that can also map vectors back to logits over its ids.

``layer(ids)`` looks ids up as ``Embedding`` does (with ``mask_zero``'s
mask); ``layer(vectors, reverse=True)`` computes ``vectors @ embeddings.T``
(``tie_weights=True``, the default) or ``vectors @ reverse_embeddings``
(an ``(output_dim, input_dim)`` weight of its own), in ``reverse_dtype``
when given, then ``tanh(logits / c) * c`` for ``logit_soft_cap=c``.  The
weights are Keras' (``embeddings``, then ``reverse_embeddings``), so
``set_weights`` with a Keras layer's weights gives its values.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers.base import register_layer
from theanine.frontend.layers.embedding import Embedding
from theanine.graph.type import is_float

__all__ = ["ReversibleEmbedding"]


@register_layer
class ReversibleEmbedding(Embedding):
    """Keras' ``ReversibleEmbedding(input_dim, output_dim, tie_weights=True, ..., reverse_dtype=None,
    logit_soft_cap=None)`` (see the module docstring)."""

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool) or not isinstance(
                logit_soft_cap, (int, float, np.integer, np.floating)) or logit_soft_cap <= 0):
            raise ValueError(f"ReversibleEmbedding: logit_soft_cap must be None or a positive number. "
                             f"Received: logit_soft_cap={logit_soft_cap!r}")
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = None if reverse_dtype is None else str(reverse_dtype)
        self.logit_soft_cap = logit_soft_cap
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)

    def build(self, input_shape) -> None:
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(shape=(self.output_dim, self.input_dim),
                                                      initializer=self.embeddings_initializer,
                                                      name="reverse_embeddings")

    def call(self, inputs, reverse=False, training=None):
        if not reverse:
            return super().call(inputs, training)
        if not is_float(inputs.dtype) or inputs.type.shape[-1] not in (None, self.output_dim):
            raise ValueError(f"layer {self.name!r} (ReversibleEmbedding) with reverse=True expects float vectors "
                             f"of size {self.output_dim} on the last axis. Received: input of type {inputs.type}")
        kernel = th.transpose(self.embeddings) if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs, kernel = th.cast(inputs, self.reverse_dtype), th.cast(kernel, self.reverse_dtype)
        logits = th.tensordot(inputs, kernel, axes=1)
        if self.logit_soft_cap is not None:
            cap = np.asarray(self.logit_soft_cap, logits.dtype)
            logits = th.tanh(logits / cap) * cap
        return logits

    def compute_mask(self, inputs, mask=None):
        """The ids' padding mask of a lookup (``mask_zero``); none for the reverse (float) call."""
        return None if is_float(inputs.dtype) else super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*tuple(input_shape)[:-1], self.input_dim)
        return super().compute_output_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}

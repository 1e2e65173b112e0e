"""Embedding: integer ids to dense vectors (a lookup in a trainable table)."""

from __future__ import annotations

import warnings

import theanine as th
from theanine.frontend import constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer
from theanine.frontend.layers.core import _positive_int
from theanine.graph.type import is_float

__all__ = ["Embedding"]


@register_layer
class Embedding(Layer):
    """Map ids in ``[0, input_dim)`` to rows of an ``(input_dim, output_dim)`` table.

    Inputs are integer tensors of any shape; float inputs are cast to int64
    as Keras casts them.  The output has shape ``(*input_shape, output_dim)``.
    The default initializer is Keras' ``uniform`` (``RandomUniform(-0.05,
    0.05)``).  With ``mask_zero=True`` id 0 is padding: the output carries
    the mask ``inputs != 0``, which recurrent layers and losses respect.
    ``weights`` (Keras 3) gives the initial table, e.g. pretrained vectors;
    Keras 2's ``input_length`` is accepted with a deprecation warning.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer="random_uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero: bool = False,
        weights=None,
        **kwargs,
    ):
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Embedding: the argument `input_length` is deprecated (as in Keras 3); just remove it",
                          stacklevel=2)
        super().__init__(**kwargs)
        self.mask_zero = bool(mask_zero)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        custom = get_custom_objects()
        self.embeddings_initializer = initializers.get(embeddings_initializer, custom)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer, custom)
        self.embeddings_constraint = constraints.get(embeddings_constraint, custom)
        if weights is not None:  # Keras 3's initial matrix (pretrained vectors)
            self.build(None)
            self.built = True
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1 else [weights])

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )

    def call(self, inputs, training=None):
        if is_float(inputs.dtype):
            inputs = th.cast(inputs, "int64")
        return th.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        return th.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }

"""GroupQueryAttention (Keras 3's ``GroupedQueryAttention``): attention whose ``num_query_heads``
query heads share ``num_key_value_heads`` key and value heads (each key/value head serves
``num_query_heads // num_key_value_heads`` consecutive query heads).

The weights are Keras' EinsumDense kernels and biases in Keras' order (query, key, the optional
sigmoid ``gate``, value, output), so ``set_weights`` with a Keras layer's weights gives its values.
Masks combine as Keras' ``_compute_attention_mask``: the explicit ``attention_mask`` AND the query,
value and key masks (arguments, or the inputs' Keras masks) AND the causal mask
(``use_causal_mask``) AND the band ``|i - j| < sliding_window``; masked logits get ``-1e9`` before
the softmax.  ``flash_attention`` is accepted for Keras' signature and changes nothing here.
"""

from __future__ import annotations

import math

import numpy as np

import theanine as th
from theanine.frontend.layers.attention import (
    _as_float,
    _AttentionDropout,
    _causal_mask,
    _combine,
    _masked_softmax,
    _positive_int,
    _shape_list,
    set_weight_options,
    weight_options_config,
)
from theanine.frontend.layers.base import Layer, register_layer
from theanine.graph.basic import Variable

__all__ = ["GroupQueryAttention", "GroupedQueryAttention"]

_TENSOR_ARGUMENTS = ("query_mask", "value_mask", "key_mask", "attention_mask")


@register_layer
class GroupQueryAttention(Layer):
    """``layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``
    on ``(batch, length, features)`` tensors; the output has the query's shape."""

    supports_masking = True

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.head_dim = _positive_int(head_dim, "head_dim")
        self.num_query_heads = _positive_int(num_query_heads, "num_query_heads")
        self.num_key_value_heads = _positive_int(num_key_value_heads, "num_key_value_heads")
        if self.num_query_heads % self.num_key_value_heads != 0:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
                             f"num_query_heads={num_query_heads}, num_key_value_heads={num_key_value_heads}")
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        if sliding_window is not None and (isinstance(sliding_window, bool) or not isinstance(sliding_window, int)
                                           or sliding_window <= 0):
            raise ValueError(f"`sliding_window` must be `None` or a positive integer. "
                             f"Received: sliding_window={sliding_window}")
        if flash_attention and dropout > 0.0:
            raise ValueError("Dropout is not supported when flash attention is enabled. "
                             "Please set dropout to 0.0 to use flash attention.")
        self.dropout, self.use_bias, self.use_gate = float(dropout), bool(use_bias), bool(use_gate)
        self.sliding_window, self.flash_attention = sliding_window, flash_attention
        set_weight_options(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        self.seed = seed
        self._dropout = _AttentionDropout(self.dropout, seed)
        self._projections_built = False

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        """Build the projections when the value shape is known, else on the first call."""
        self._build_input_shape = query_shape
        if value_shape is not None:
            self._build_projections(query_shape, value_shape, key_shape or value_shape)

    def __call__(self, query, value=None, key=None, **kwargs):
        """``value`` and ``key`` may be given by position, as in Keras.  On symbolic tensors they travel
        as keywords (models record them as the call's tensor keywords); on arrays every array argument
        goes in one list, named in ``packed=`` (an eager call takes arrays as its inputs only)."""
        if "packed" in kwargs:  # the eager machinery tracing the packed call
            return super().__call__(query, **kwargs)
        if value is None:
            raise ValueError(f"GroupQueryAttention {self.name!r} is called on (query, value) or (query, value, key). "
                             "Received no value")
        tensors = {"query": query, "value": value, "key": key,
                   **{name: kwargs.pop(name) for name in _TENSOR_ARGUMENTS if kwargs.get(name) is not None}}
        tensors = {name: x for name, x in tensors.items() if x is not None}
        if isinstance(query, Variable):
            del tensors["query"]
            return super().__call__(query, **tensors, **kwargs)
        return super().__call__(list(tensors.values()), packed=",".join(tensors), **kwargs)

    def _dim(self, shape, what: str) -> int:
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"GroupQueryAttention {self.name!r}: {what} must have rank 3 (batch, sequence, "
                             f"features) with a known feature size. Received: {what}_shape={tuple(shape)}")
        return int(shape[-1])

    def _projection(self, name: str, kernel_shape: tuple, bias_shape: tuple):
        kernel = self.add_weight(shape=kernel_shape, initializer=self.kernel_initializer,
                                 regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                 name=f"{name}_kernel")
        bias = None
        if self.use_bias:
            bias = self.add_weight(shape=bias_shape, initializer=self.bias_initializer,
                                   regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                                   name=f"{name}_bias")
        return kernel, bias

    def _build_projections(self, query_shape, value_shape, key_shape) -> None:
        q_dim, v_dim = self._dim(query_shape, "query"), self._dim(value_shape, "value")
        k_dim = self._dim(key_shape, "key")
        heads, groups, size = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self.query_kernel, self.query_bias = self._projection("query", (q_dim, heads, size), (heads, size))
        self.key_kernel, self.key_bias = self._projection("key", (k_dim, groups, size), (groups, size))
        if self.use_gate:
            self.gate_kernel, self.gate_bias = self._projection("gate", (q_dim, heads, size), (heads, size))
        self.value_kernel, self.value_bias = self._projection("value", (v_dim, groups, size), (groups, size))
        self.output_kernel, self.output_bias = self._projection("attention_output", (heads, size, q_dim), (q_dim,))
        self._projection_shapes = {"query_shape": _shape_list(query_shape), "value_shape": _shape_list(value_shape),
                                   "key_shape": _shape_list(key_shape)}
        self._projections_built = True

    def get_build_config(self) -> dict | None:
        return self.__dict__.get("_projection_shapes")

    def build_from_config(self, config: dict) -> None:
        if config and config.get("query_shape") is not None:
            self.build(config["query_shape"], config["value_shape"], config.get("key_shape"))

    def _attention_mask(self, query, value, key, masks, attention_mask, use_causal_mask):
        """The ``(batch or 1, Tq, Tv)`` float mask of Keras' ``_compute_attention_mask``, or None."""
        dtype = query.dtype
        query_mask, value_mask, key_mask = (
            _as_float(given if given is not None else getattr(x, "_keras_mask", None), dtype)
            for given, x in zip(masks, (query, value, key), strict=True))
        if key is value:
            key_mask = None
        band = None
        if self.sliding_window is not None:
            distance = th.abs(th.arange(query.shape[1])[:, None] - th.arange(value.shape[1])[None, :])
            band = th.cast(th.lt(distance, self.sliding_window), dtype)[None, :, :]
        return _combine(
            None if attention_mask is None else th.cast(attention_mask, dtype),
            None if query_mask is None else query_mask[:, :, None],
            None if value_mask is None else value_mask[:, None, :],
            None if key_mask is None else key_mask[:, None, :],
            _causal_mask(query, value, dtype)[None, :, :] if use_causal_mask else None,
            band,
        )

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False, packed=None):
        if packed is not None:  # an eager call: the arrays in one list (see __call__)
            given = dict(zip(packed.split(","), query, strict=True))
            query, value, key = given.pop("query"), given.pop("value"), given.pop("key", None)
            query_mask, value_mask, key_mask, attention_mask = (given.get(name) for name in _TENSOR_ARGUMENTS)
        key = value if key is None else key
        if not self._projections_built:
            self._build_projections(query.type.shape, value.type.shape, key.type.shape)
        mask = self._attention_mask(query, value, key, (query_mask, value_mask, key_mask), attention_mask,
                                    use_causal_mask)

        def project(x, kernel, bias):
            out = th.einsum("bqm,muh->bquh", x, kernel)
            return out if bias is None else out + bias

        q = project(query, self.query_kernel, self.query_bias)
        k = th.repeat(project(key, self.key_kernel, self.key_bias), self.num_repeats, axis=2)
        v = th.repeat(project(value, self.value_kernel, self.value_bias), self.num_repeats, axis=2)
        q = q * np.asarray(1.0 / math.sqrt(float(self.head_dim)), q.dtype)
        scores = th.einsum("bquh,bkuh->buqk", q, k)
        weights = _masked_softmax(scores, None if mask is None else mask[:, None, :, :])
        context = th.einsum("buqk,bkuh->bquh", self._dropout(weights, training), v)
        if self.use_gate:
            context = context * th.sigmoid(project(query, self.gate_kernel, self.gate_bias))
        outputs = th.einsum("bquh,uhm->bqm", context, self.output_kernel)
        if self.output_bias is not None:
            outputs = outputs + self.output_bias
        return (outputs, weights) if return_attention_scores else outputs

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is not None and query_shape[-1] != value_shape[-1]:
            raise ValueError("The last dimension of `query_shape` and `value_shape` must be equal, but are "
                             f"{query_shape[-1]}, {value_shape[-1]}. Received: query_shape={query_shape}, "
                             f"value_shape={value_shape}")
        return tuple(query_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            **weight_options_config(self),
            "seed": self.seed,
        }


GroupedQueryAttention = GroupQueryAttention
"""The class's name in Keras' source (``keras.layers.GroupQueryAttention`` is its export)."""

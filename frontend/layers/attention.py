"""Attention layers: MultiHeadAttention, Attention, AdditiveAttention (Keras 3 semantics).

All three compute ``softmax(scores) @ value`` over the key (sequence) axis;
masked logits get a large negative number added (``-1e9``, Keras' value for
float32) before the softmax, so masked keys get (almost) zero weight.  The
weights have Keras 3's shapes and order, so ``set_weights`` with a Keras
layer's ``get_weights()`` reproduces its outputs.

In a functional model the keyword arguments of a call (``key=``,
``attention_mask=``, ``use_causal_mask=``, ``return_attention_scores=``) are
recorded with it (``layers.base.Node.tensor_kwargs`` and ``call_kwargs``), so
the model and a model loaded from its file call the layer the same way.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import constraints, initializers, regularizers, seeding
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer

__all__ = ["MultiHeadAttention", "Attention", "AdditiveAttention"]

_LARGE_NEGATIVE = -1e9


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"expected a positive integer. Received: {what}={value!r}")
    return int(value)


def _shape_list(shape) -> list:
    return [None if d is None else int(d) for d in shape]


def _as_float(mask, dtype):
    return None if mask is None else th.cast(mask, dtype)


def _combine(*masks):
    """The AND of float 0/1 masks (None entries ignored; None when all are None)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    result = present[0]
    for mask in present[1:]:
        result = result * mask
    return result


def _causal_mask(query, value, dtype):
    """``(Tq, Tv)`` float mask of ``i >= j``: a query position sees keys up to its own."""
    rows = th.arange(query.shape[1])
    cols = th.arange(value.shape[1])
    return th.cast(th.ge(rows[:, None], cols[None, :]), dtype)


def _masked_softmax(scores, mask):
    """Softmax over the last axis with masked logits pushed down by ``1e9`` (Keras' Softmax)."""
    if mask is not None:
        scores = scores + (1.0 - mask) * np.asarray(_LARGE_NEGATIVE, dtype=scores.dtype)
    return th.softmax(scores, axis=-1)


_OPTION_KINDS = {"initializer": initializers, "regularizer": regularizers, "constraint": constraints}


def set_weight_options(layer: Layer, **options) -> None:
    """Set each of the projections' ``kernel_initializer``, ``activity_regularizer``, ``bias_constraint``,
    ... on ``layer``, resolved from Keras' names, configs or objects (the module by the name's suffix)."""
    custom = get_custom_objects()
    for name, value in options.items():
        setattr(layer, name, _OPTION_KINDS[name.rsplit("_", 1)[1]].get(value, custom))


def weight_options_config(layer: Layer) -> dict:
    """The seven weight options of an attention layer, serialized for ``get_config``."""
    return {f"{part}_{kind}": _OPTION_KINDS[kind].serialize(getattr(layer, f"{part}_{kind}"))
            for part, kind in (("kernel", "initializer"), ("bias", "initializer"), ("kernel", "regularizer"),
                               ("bias", "regularizer"), ("activity", "regularizer"), ("kernel", "constraint"),
                               ("bias", "constraint"))}


class _AttentionDropout:
    """Dropout of the attention probabilities in training (a seeded stream, as ``Dropout``)."""

    def __init__(self, rate: float, seed: int | None):
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"attention dropout must be in [0, 1). Received: dropout={rate!r}")
        self.rate = float(rate)
        self.stream = th.random.RandomStream(int(seeding.next_seed() if seed is None else seed))

    def __call__(self, weights, training):
        if not training or self.rate == 0.0:
            return weights
        keep = 1.0 - self.rate
        draws = self.stream.uniform(size=weights.shape, dtype=weights.dtype)
        return weights * th.cast(th.less(draws, keep), weights.dtype) / np.asarray(keep, weights.dtype)


@register_layer
class MultiHeadAttention(Layer):
    """Keras 3's multi-head attention: ``layer(query, value, key=None, attention_mask=None, ...)``.

    Projections are Keras' EinsumDense weights: query/key/value kernels
    ``(dim, num_heads, key_dim|value_dim)`` with biases ``(num_heads, .)``,
    output kernel ``(num_heads, value_dim, out_dim)`` and bias ``(out_dim,)``.
    Only the default ``attention_axes`` (the sequence axis of rank-3 inputs) is supported.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape=None,
        attention_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention_axes is not None:
            raise NotImplementedError(
                f"MultiHeadAttention {self.name!r}: only attention_axes=None (the sequence axis) is "
                f"supported. Received: attention_axes={attention_axes!r}"
            )
        self.num_heads = _positive_int(num_heads, "num_heads")
        self.key_dim = _positive_int(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else _positive_int(value_dim, "value_dim")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if output_shape is not None and not isinstance(output_shape, int):
            output_shape = tuple(output_shape)
            if len(output_shape) != 1:
                raise NotImplementedError(
                    f"MultiHeadAttention {self.name!r}: only a one-axis output_shape is supported. "
                    f"Received: output_shape={output_shape!r}"
                )
            output_shape = output_shape[0]
        self.output_shape_ = None if output_shape is None else _positive_int(output_shape, "output_shape")
        set_weight_options(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        self.seed = seed
        self._dropout = _AttentionDropout(self.dropout, seed)
        self._projections_built = False

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        """Build the projections now when the value shape is known, else on the first call
        (a call passes only the query's shape to ``build``)."""
        self._build_input_shape = query_shape
        if value_shape is not None:
            self._build_projections(query_shape, value_shape, key_shape or value_shape)

    def _dim(self, shape, what: str) -> int:
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: {what} must have rank 3 (batch, sequence, features) "
                f"with a known feature size. Received: {what}_shape={tuple(shape)}"
            )
        return int(shape[-1])

    def _projection(self, name: str, shape: tuple):
        kernel = self.add_weight(shape=shape, initializer=self.kernel_initializer,
                                 regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                 name=f"{name}_kernel")
        bias = None
        if self.use_bias:
            bias = self.add_weight(shape=shape[-1:] if name == "output" else shape[1:],
                                   initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint, name=f"{name}_bias")
        return kernel, bias

    def _build_projections(self, query_shape, value_shape, key_shape) -> None:
        q_dim, v_dim = self._dim(query_shape, "query"), self._dim(value_shape, "value")
        k_dim = self._dim(key_shape, "key")
        self._query_dim = q_dim
        self.query_kernel, self.query_bias = self._projection("query", (q_dim, self.num_heads, self.key_dim))
        self.key_kernel, self.key_bias = self._projection("key", (k_dim, self.num_heads, self.key_dim))
        self.value_kernel, self.value_bias = self._projection("value", (v_dim, self.num_heads, self.value_dim))
        out_dim = self.output_shape_ or q_dim
        self.output_kernel, self.output_bias = self._projection("output", (self.num_heads, self.value_dim, out_dim))
        self._projection_shapes = {"query_shape": _shape_list(query_shape), "value_shape": _shape_list(value_shape),
                                   "key_shape": _shape_list(key_shape)}
        self._projections_built = True

    def get_build_config(self) -> dict | None:
        """Keras 3's build config: the query, value and key shapes the projections were built for."""
        return self.__dict__.get("_projection_shapes")

    def build_from_config(self, config: dict) -> None:
        if config and config.get("query_shape") is not None:
            self.build(config["query_shape"], config["value_shape"], config.get("key_shape"))

    def _attention_mask(self, query, value, key, attention_mask, use_causal_mask):
        """Keras' ``_compute_attention_mask``: the AND of the explicit mask, the inputs' masks
        (query positions x key positions) and the causal mask, as ``(B, Tq, Tv)`` floats or None."""
        dtype = query.dtype
        q_mask = _as_float(getattr(query, "_keras_mask", None), dtype)
        v_mask = _as_float(getattr(value, "_keras_mask", None), dtype)
        k_mask = _as_float(getattr(key, "_keras_mask", None), dtype)
        return _combine(
            None if attention_mask is None else th.cast(attention_mask, dtype),
            None if q_mask is None else q_mask[:, :, None],
            None if v_mask is None else v_mask[:, None, :],
            None if k_mask is None else k_mask[:, None, :],
            _causal_mask(query, value, dtype)[None, :, :] if use_causal_mask else None,
        )

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False,
             training=None, use_causal_mask=False):
        key = value if key is None else key
        if not self._projections_built:
            self._build_projections(query.type.shape, value.type.shape, key.type.shape)
        mask = self._attention_mask(query, value, key, attention_mask, use_causal_mask)

        def project(x, kernel, bias):
            out = th.einsum("abc,cde->abde", x, kernel)
            return out if bias is None else out + bias

        q = project(query, self.query_kernel, self.query_bias)
        k = project(key, self.key_kernel, self.key_bias)
        v = project(value, self.value_kernel, self.value_bias)
        q = q * np.asarray(1.0 / np.sqrt(self.key_dim), dtype=q.dtype)
        scores = th.einsum("aecd,abcd->acbe", k, q)  # (batch, heads, Tq, Tk)
        weights = _masked_softmax(scores, None if mask is None else mask[:, None, :, :])
        dropped = self._dropout(weights, training)
        context = th.einsum("acbe,aecd->abcd", dropped, v)  # (batch, Tq, heads, value_dim)
        outputs = th.einsum("abcd,cde->abe", context, self.output_kernel)
        if self.output_bias is not None:
            outputs = outputs + self.output_bias
        if return_attention_scores:
            return outputs, weights
        return outputs

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return (*tuple(query_shape)[:-1], self.output_shape_ or query_shape[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_shape_,
            "attention_axes": None,
            **weight_options_config(self),
            "seed": self.seed,
        }


class _BaseDenseAttention(Layer):
    """Shared call of Attention and AdditiveAttention on ``[query, value]`` or ``[query, value, key]``.

    ``mask=[query_mask, value_mask]``: masked values get ``-1e9`` added to their
    scores, and outputs at masked query positions are zeroed (Keras 3).
    """

    supports_masking = True

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.seed = seed
        self._dropout = _AttentionDropout(self.dropout, seed)

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"{type(self).__name__} {self.name!r} must be called on [query, value] or "
                f"[query, value, key]. Received: {type(inputs).__name__} of "
                f"{len(inputs) if isinstance(inputs, (list, tuple)) else 1} tensor(s)"
            )
        query, value = inputs[0], inputs[1]
        return query, value, (inputs[2] if len(inputs) == 3 else value)

    def _score(self, query, key):
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        query, value, key = self._split(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask, None]
        q_mask = _as_float(masks[0], query.dtype)
        v_mask = _as_float(masks[1] if len(masks) > 1 else None, query.dtype)
        scores = self._score(query, key)
        score_mask = _combine(
            None if v_mask is None else v_mask[:, None, :],
            _causal_mask(query, key, query.dtype)[None, :, :] if use_causal_mask else None,
        )
        weights = self._dropout(_masked_softmax(scores, score_mask), training)  # returned after dropout, as Keras
        result = th.matmul(weights, value)
        if q_mask is not None:
            result = result * q_mask[:, :, None]
        if return_attention_scores:
            return result, weights
        return result

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def compute_output_shape(self, input_shape):
        query_shape, value_shape = input_shape[0], input_shape[1]
        return (*tuple(query_shape)[:-1], value_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@register_layer
class Attention(_BaseDenseAttention):
    """Luong-style attention: scores ``query @ key^T`` (``score_mode="dot"``) or
    ``concat_score_weight * sum(tanh(scale * (query + key)))`` (``"concat"``);
    ``use_scale`` adds a learned scalar ``scale`` (initialized to 1)."""

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat'. Received: score_mode={score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape) -> None:
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale") if self.use_scale else None
        self.concat_score_weight = (
            self.add_weight(shape=(), initializer="ones", name="concat_score_weight")
            if self.score_mode == "concat" else None
        )

    def _score(self, query, key):
        if self.score_mode == "dot":
            scores = th.matmul(query, th.swapaxes(key, -1, -2))
            return scores if self.scale is None else scores * self.scale
        summed = query[:, :, None, :] + key[:, None, :, :]
        if self.scale is not None:
            summed = summed * self.scale
        return self.concat_score_weight * th.sum(th.tanh(summed), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@register_layer
class AdditiveAttention(_BaseDenseAttention):
    """Bahdanau-style attention: scores ``sum(scale * tanh(query + key), -1)``; ``use_scale``
    learns the per-feature ``scale`` (glorot-uniform initialized, shape ``(dim,)``)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape) -> None:
        dim = input_shape[0][-1]
        self.scale = (
            self.add_weight(shape=(int(dim),), initializer="glorot_uniform", name="scale")
            if self.use_scale else None
        )

    def _score(self, query, key):
        tanh = th.tanh(query[:, :, None, :] + key[:, None, :, :])
        return th.sum(tanh if self.scale is None else self.scale * tanh, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale}

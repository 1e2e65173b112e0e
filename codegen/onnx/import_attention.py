"""ONNX's Attention (opsets 23 to 25) as theanine expressions, following ONNX's reference step by step.

``Q``, ``K``, ``V`` come as ``(batch, heads, sequence, head_size)`` or, with
``q_num_heads``/``kv_num_heads``, as ``(batch, sequence, hidden)`` split into
heads.  The cache (``past_key``/``past_value``) is prepended along the
sequence axis and returned as ``present_*``.  One additive bias collects
every mask: ``attn_mask`` (boolean: -inf where False; shorter than the keys:
padded with -inf), the causal mask (``is_causal``), aligned at the bottom
right (a query at ``i`` sees keys up to ``i + offset``, the offset being the
cache length, or per batch item ``nonpad_kv_seqlen - q_len``), the sliding
window (``left_window_size``/``right_window_size``) and the padding of
``nonpad_kv_seqlen``.  Grouped-query attention repeats each key/value head.
The scale (default ``1/sqrt(head_size)``) multiplies Q and K by its square
root each; ``softcap`` bounds the scores by ``softcap * tanh(s / softcap)``
before the bias; the softmax runs in ``softmax_precision`` when given, and a
query row whose bias is -inf everywhere gets zero weights (the reference's
convention, where a plain softmax would give NaN).
``qk_matmul_output_mode`` picks what the fourth output shows, as the
reference does: 0 or 1 the scores (after softcap), 2 the scores plus the
bias, 3 the weights.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.reader import Unsupported, imports


@imports("Attention")
def _attention(ctx, node, args, attrs):
    q, k, v, mask, past_key, past_value, nonpad = (*args, *[None] * 7)[:7]
    dtype = q.dtype
    three_d = q.ndim == 3
    if three_d:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise Unsupported("3-D inputs need q_num_heads and kv_num_heads")
        q = _split_heads(q, attrs["q_num_heads"], "Q")
        k = _split_heads(k, attrs["kv_num_heads"], "K")
        v = _split_heads(v, attrs["kv_num_heads"], "V")
    head_size = q.type.shape[3]
    if "scale" in attrs:
        scale = attrs["scale"]
    elif head_size is None:
        raise Unsupported("the head size of Q must be static when no scale is given")
    else:
        scale = 1 / np.sqrt(head_size)
    root = th.constant(np.asarray(np.sqrt(scale), dtype=dtype))
    if past_key is not None:
        k = th.concatenate([past_key, k], axis=2)
        v = th.concatenate([past_value, v], axis=2)
    present_key, present_value = k, v
    q_len, kv_len = q.type.shape[2], k.type.shape[2]
    if q_len is None or kv_len is None:
        raise Unsupported("the query and key sequence lengths must be static")
    past_len = past_key.type.shape[2] if past_key is not None else 0
    offset = past_len
    if past_key is None and nonpad is not None:
        offset = th.reshape(th.cast(nonpad, "int64"), (-1, 1, 1)) - q_len
    bias = _bias(attrs, mask, nonpad, offset, q_len, kv_len, dtype)

    q_heads, kv_heads = q.type.shape[1], k.type.shape[1]
    if None not in (q_heads, kv_heads) and q_heads != kv_heads and q_heads % kv_heads == 0:
        k, v = th.repeat(k, q_heads // kv_heads, axis=1), th.repeat(v, q_heads // kv_heads, axis=1)
    scores = th.matmul(q * root, th.swapaxes(k * root, -1, -2))
    if attrs.get("softcap") is not None and attrs["softcap"] > 0:
        cap = th.constant(np.asarray(attrs["softcap"], dtype=dtype))
        scores = th.tanh(scores / cap) * cap
    with_bias = scores + bias
    mode = attrs.get("qk_matmul_output_mode", 0)
    shown = with_bias if mode == 2 else scores
    precision = attrs.get("softmax_precision")
    logits = th.cast(with_bias, NUMPY_DTYPES[precision]) if precision is not None else with_bias
    weights = _guarded_softmax(logits)
    fully_masked = _is_minus_inf(th.max(bias, axis=-1, keepdims=True))
    weights = th.where(fully_masked, th.zeros((), dtype=weights.dtype), weights)
    if mode == 3:
        shown = weights
    weights = th.cast(weights, dtype)
    out = th.matmul(weights, v)
    if three_d:
        out = th.swapaxes(out, 1, 2)
        out = th.reshape(out, (th.shape(out)[0], th.shape(out)[1], -1))
    return [out, present_key, present_value, th.cast(shown, dtype)][:len(node.output)]


def _split_heads(x, heads: int, name: str):
    """``(batch, sequence, heads * size)`` as ``(batch, heads, sequence, size)``."""
    hidden = x.type.shape[2]
    if hidden is None:
        raise Unsupported(f"the hidden size of {name} must be static")
    split = th.reshape(x, (th.shape(x)[0], th.shape(x)[1], heads, hidden // heads))
    return th.swapaxes(split, 1, 2)


def _additive(mask, dtype):
    """A boolean mask as 0 where True and -inf where False; a float mask as it is."""
    if mask.dtype == "bool":
        return th.where(mask, th.zeros((), dtype=dtype), th.constant(np.asarray(-np.inf, dtype=dtype)))
    return th.cast(mask, dtype)


def _bias(attrs, mask, nonpad, offset, q_len: int, kv_len: int, dtype):
    """The additive bias of every mask, broadcastable against the ``(..., q_len, kv_len)`` scores."""
    zeros = th.zeros((q_len, kv_len), dtype=dtype)
    minus_inf = th.constant(np.asarray(-np.inf, dtype=dtype))
    zero = th.zeros((), dtype=dtype)
    if mask is not None:
        missing = kv_len - (mask.type.shape[-1] or kv_len)
        if missing > 0:
            pad_value = False if mask.dtype == "bool" else -np.inf
            mask = th.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, missing)], constant_values=pad_value)
        mask = _additive(mask, dtype)
    left, right = attrs.get("left_window_size", -1), attrs.get("right_window_size", -1)
    rows = th.reshape(th.arange(q_len, dtype="int64"), (q_len, 1))
    columns = th.reshape(th.arange(kv_len, dtype="int64"), (1, kv_len))
    bias = zeros if mask is None else zeros + mask
    if attrs.get("is_causal", 0):
        allowed = th.less_equal(columns, rows + offset)
        bias = bias + _per_batch(th.where(allowed, zero, minus_inf), offset)
    if left >= 0 or right >= 0:
        diff = rows + offset - columns
        allowed = th.ones_like(diff, dtype="bool")
        if left >= 0:
            allowed = th.logical_and(allowed, th.less_equal(diff, left))
        if right >= 0:
            allowed = th.logical_and(allowed, th.less_equal(-diff, right))
        bias = bias + _per_batch(th.where(allowed, zero, minus_inf), offset)
    if nonpad is not None:
        kept = th.less(columns, th.reshape(th.cast(nonpad, "int64"), (-1, 1)))
        bias = bias + th.reshape(th.where(kept, zero, minus_inf), (-1, 1, 1, kv_len))
    return bias


def _per_batch(window, offset):
    """A ``(batch, q, kv)`` mask (a per-batch offset) as ``(batch, 1, q, kv)``; a 2-D one as it is."""
    return th.expand_dims(window, 1) if window.ndim == 3 else window


def _guarded_softmax(x):
    """Softmax over the last axis that gives zeros, not NaN, for a row that is -inf throughout."""
    top = th.max(x, axis=-1, keepdims=True)
    safe = th.where(_is_minus_inf(top), th.zeros((), dtype=x.dtype), top)
    exp = th.exp(x - safe)
    total = th.sum(exp, axis=-1, keepdims=True)
    return exp / th.where(th.equal(total, 0), th.ones((), dtype=x.dtype), total)


def _is_minus_inf(x):
    return th.logical_and(th.isinf(x), th.less(x, 0))


@imports("RotaryEmbedding")
def _rotary_embedding(ctx, node, args, attrs):
    """Rotates the first ``rotary_embedding_dim`` features of each head by the cached angles (at
    ``position_ids`` when given): pairs are the two halves, or neighbours with ``interleaved``."""
    x, cos, sin, positions = (*args, None)[:4]
    four_d = x.ndim == 4
    heads = th.swapaxes(x, 1, 2) if four_d else x
    if not four_d:
        hidden, count = x.type.shape[2], attrs.get("num_heads", 0)
        if hidden is None or not count:
            raise Unsupported("3-D input needs num_heads and a static hidden size")
        heads = th.reshape(x, (th.shape(x)[0], th.shape(x)[1], count, hidden // count))
    head_size = heads.type.shape[3]
    if head_size is None:
        raise Unsupported("the head size must be static")
    rotated = attrs.get("rotary_embedding_dim", 0) or head_size
    if positions is not None:
        cos, sin = th.take(cos, th.cast(positions, "int64"), axis=0), th.take(sin, th.cast(positions, "int64"), axis=0)
    cos, sin = th.expand_dims(cos, 2), th.expand_dims(sin, 2)
    part, rest = heads[..., :rotated], heads[..., rotated:]
    if attrs.get("interleaved", 0):
        first, second = part[..., 0::2], part[..., 1::2]
    else:
        first, second = part[..., :rotated // 2], part[..., rotated // 2:]
    real, imag = cos * first - sin * second, sin * first + cos * second
    if attrs.get("interleaved", 0):
        part = th.reshape(th.stack([real, imag], axis=-1), th.shape(part))
    else:
        part = th.concatenate([real, imag], axis=-1)
    out = th.cast(th.concatenate([part, rest], axis=-1), x.dtype)
    return [th.swapaxes(out, 1, 2) if four_d else th.reshape(out, th.shape(x))]


UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


@imports("LinearAttention")
def _linear_attention(ctx, node, args, attrs):
    """Recurrent linear attention as a ``th.scan`` over time, with ONNX's update rules: a state
    ``S`` (per key/value head, d_k x d_v) decayed by ``exp(decay)`` ("gated"), corrected toward the
    new value by ``beta`` ("delta"), then increased by ``k v^T``; each query reads ``scale q S``.
    Computed in float32; the outputs are the attention and the final state."""
    query, key, value, past, decay, beta = (*args, *[None] * 6)[:6]
    rule = attrs.get("update_rule", "gated_delta")
    q_heads, kv_heads = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
    if rule not in UPDATE_RULES or not q_heads or not kv_heads or q_heads % kv_heads:
        raise Unsupported(f"update_rule={rule!r} with q_num_heads={q_heads}, kv_num_heads={kv_heads}")
    if None in (query.type.shape[2], key.type.shape[2], value.type.shape[2]):
        raise Unsupported("the hidden sizes of query, key and value must be static")
    key_size, value_size = query.type.shape[2] // q_heads, value.type.shape[2] // kv_heads
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    scale = attrs.get("scale") or 1 / np.sqrt(key_size)

    def time_major(x, heads):  # (B, T, H*D) -> (T, B, H, D) in float32
        split = th.reshape(th.cast(x, "float32"), (th.shape(x)[0], th.shape(x)[1], heads, -1))
        return th.transpose(split, (1, 0, 2, 3))

    sequences = [time_major(query, q_heads), time_major(key, kv_heads), time_major(value, kv_heads)]
    if gating:  # one decay per head, or per head and key feature
        sequences.append(time_major(decay, kv_heads))
    if delta:
        sequences.append(time_major(beta, beta.type.shape[2]))
    batch = th.shape(query)[0]
    state = th.cast(past, "float32") if past is not None else th.zeros((batch, kv_heads, key_size, value_size),
                                                                        dtype="float32")
    group = q_heads // kv_heads

    def step(*inputs):
        q_t, k_t, v_t, *extra, s = inputs
        if gating:
            s = s * th.expand_dims(th.exp(extra.pop(0)), -1)
        if delta:
            retrieved = th.sum(s * th.expand_dims(k_t, -1), axis=2)
            v_t = extra.pop(0) * (v_t - retrieved)
        s = s + th.expand_dims(k_t, -1) * th.expand_dims(v_t, -2)
        read = th.repeat(s, group, axis=1) if group > 1 else s
        return th.sum(th.expand_dims(q_t, -1) * read, axis=2) * np.float32(scale), s

    (outputs, states), _ = th.scan(step, sequences=sequences, outputs_info=[None, state])
    attention = th.reshape(th.transpose(outputs, (1, 0, 2, 3)), (batch, th.shape(query)[1], q_heads * value_size))
    final = states[-1]
    return [th.cast(attention, query.dtype), th.cast(final, past.dtype if past is not None else query.dtype)]


@imports("FlexAttention")
def _flex_attention(ctx, node, args, attrs):
    """ONNX's FlexAttention (domain ``ai.onnx.preview``): attention whose scores and weights pass
    through the user's ``score_mod`` and ``prob_mod`` graphs (each maps one tensor to one), computed
    in ``softmax_precision`` (float32 for 16-bit inputs)."""
    q, k, v = args[:3]
    head_size = q.type.shape[3]
    if q.ndim != 4 or head_size is None:
        raise Unsupported("rank-4 Q, K, V with a static head size")
    scale = attrs.get("scale", 1 / np.sqrt(head_size))
    q_heads, kv_heads = q.type.shape[1], k.type.shape[1]
    if None not in (q_heads, kv_heads) and q_heads != kv_heads:
        k, v = th.repeat(k, q_heads // kv_heads, axis=1), th.repeat(v, q_heads // kv_heads, axis=1)
    root = th.constant(np.asarray(np.sqrt(np.float32(scale)), dtype=q.dtype))
    precision = attrs.get("softmax_precision")
    dtype = NUMPY_DTYPES[precision] if precision is not None else "float32" if q.dtype == "float16" else q.dtype
    scores = th.cast(th.matmul(q * root, th.swapaxes(k * root, -1, -2)), dtype)
    if "score_mod" in attrs:
        scores = th.cast(_one_input_graph(ctx, attrs["score_mod"], scores), dtype)
    weights = th.softmax(scores, axis=-1)
    if "prob_mod" in attrs:
        weights = th.cast(_one_input_graph(ctx, attrs["prob_mod"], weights), dtype)
    return [th.cast(th.matmul(weights, th.cast(v, dtype)), v.dtype)]


def _one_input_graph(ctx, graph, value):
    (out,) = ctx.run_graph(graph, {graph.input[0].name: value})
    return out

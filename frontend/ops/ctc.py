"""Keras' ``ops.ctc_loss`` and ``ops.ctc_decode`` (greedy).

The loss is Keras' (optax's) forward recursion in log space over the label
positions, written as one ``scan`` over time: ``phi`` holds the log
probability of having emitted the first n labels and sitting on a blank,
``emit`` of sitting on label n; impossible moves add ``log_epsilon =
-1e5`` instead of branching.  ``output`` holds logits (a log-softmax is
taken), ``mask_index`` is the blank class, and padded time steps (beyond
``output_length``) keep the state.  Its gradient is the scan's.  Greedy
decoding takes each step's best class, merges repeats, drops blanks and
packs the labels left, padding with -1; "beam_search" is a prefix beam
search (``graph/ops/ctc_search.py``).
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops.core import scan
from theanine.frontend.ops.eager import eager
from theanine.graph.ops.ctc_search import CTCBeamSearch

__all__ = ["ctc_loss", "ctc_decode"]

LOG_EPSILON = -1e5


def _paddings(lengths, max_length: int, dtype: str):
    """1 where a position is beyond its row's length, else 0."""
    return th.cast(th.ge(th.arange(max_length)[None, :], th.cast(lengths, "int64")[:, None]), dtype)


def _update_phi(phi, added):
    return th.concatenate([phi[:, :1], th.logaddexp(phi[:, 1:], added)], axis=-1)


@eager
def ctc_loss(target, output, target_length, output_length, mask_index: int = 0):
    """The CTC negative log-likelihood of each ``target`` (batch, labels) under ``output`` logits
    (batch, time, classes)."""
    output, target = th.as_tensor_variable(output), th.cast(target, "int64")
    if output.ndim != 3 or target.ndim != 2:
        raise ValueError(f"ops.ctc_loss: output must be (batch, time, classes) and target (batch, labels). "
                         f"Received: {output.type} and {target.type}")
    max_time, classes, max_labels = output.type.shape[1], output.type.shape[2], target.type.shape[1]
    if None in (max_time, classes, max_labels):
        raise ValueError(f"ops.ctc_loss: the time, class and label axes need static sizes. "
                         f"Received: {output.type} and {target.type}")
    dtype = output.dtype if output.dtype in ("float32", "float64") else "float32"
    logprobs = th.log_softmax(th.cast(output, dtype), axis=-1)
    label_lengths = max_labels - th.cast(th.sum(_paddings(target_length, max_labels, dtype), axis=1), "int64")
    repeat = th.cast(th.eq(target[:, :-1], target[:, 1:]), dtype)
    repeat = th.concatenate([repeat, th.zeros_like(repeat[:, :1])], axis=1)
    emit_logprobs = th.einsum("btk,bnk->tbn", logprobs, th.one_hot(target, classes, dtype))
    blank_logprobs = th.transpose(logprobs[:, :, mask_index:mask_index + 1], (1, 0, 2))
    pads = th.transpose(_paddings(output_length, max_time, dtype), (1, 0))[:, :, None]
    batch = th.shape(output)[0]
    phi0 = th.concatenate([th.zeros((batch, 1), dtype=dtype),
                           th.full((batch, max_labels), LOG_EPSILON, dtype=dtype)], axis=1)
    emit0 = th.full((batch, max_labels), LOG_EPSILON, dtype=dtype)

    def step(state, x):
        phi, emit = state
        log_emit, log_blank, pad = x
        moved = _update_phi(phi, emit + LOG_EPSILON * repeat)
        next_emit = th.logaddexp(moved[:, :-1] + log_emit, emit + log_emit)
        next_phi = _update_phi(moved + log_blank, emit + log_blank + LOG_EPSILON * (1.0 - repeat))
        return (pad * phi + (1.0 - pad) * next_phi, pad * emit + (1.0 - pad) * next_emit), None

    (phi, emit), _ = scan(step, (phi0, emit0), (emit_logprobs, blank_logprobs, pads))
    final = _update_phi(phi, emit)
    return -th.sum(final * th.one_hot(label_lengths, max_labels + 1, dtype), axis=1)


@eager
def ctc_decode(inputs, sequence_lengths, strategy: str = "greedy", beam_width: int = 100, top_paths: int = 1,
               merge_repeated: bool = True, mask_index: int = 0):
    """CTC decoding: ``(labels (top_paths, batch, time) padded with -1, scores (batch, top_paths))``.
    Greedy: one path, scored minus the sum of each step's best value; beam search: the
    ``top_paths`` best of ``beam_width`` prefixes, scored by their log probability."""
    inputs = th.as_tensor_variable(inputs)
    if inputs.dtype not in ("float32", "float64"):
        inputs = th.cast(inputs, "float32")
    if strategy == "beam_search":
        return tuple(CTCBeamSearch(beam_width, top_paths, mask_index).apply(inputs, sequence_lengths).outputs)
    if strategy != "greedy":
        raise ValueError(f"ops.ctc_decode: strategy must be 'greedy' or 'beam_search'. Received: {strategy!r}")
    if top_paths != 1:
        raise ValueError(f"ops.ctc_decode: greedy decoding gives one path. Received: top_paths={top_paths}")
    max_length = inputs.type.shape[1] if inputs.type.shape[1] is not None else inputs.shape[1]
    best = th.argmax(inputs, axis=-1)
    scores = th.max(inputs, axis=-1)
    beyond = th.ge(th.arange(max_length)[None, :], th.cast(sequence_lengths, "int64")[:, None])
    best = th.where(beyond, mask_index, best)
    scores = th.where(beyond, th.zeros_like(scores), scores)
    if merge_repeated:
        repeated = th.concatenate([th.zeros_like(beyond[:, :1]), th.eq(best[:, 1:], best[:, :-1])], axis=1)
        best = th.where(repeated, mask_index, best)
    invalid = th.eq(best, mask_index)
    best = th.where(invalid, -1, best)
    order = th.argsort(th.where(invalid, max_length, th.arange(max_length)[None, :] + th.zeros_like(best)), axis=-1)
    return th.expand_dims(th.take_along_axis(best, order, axis=-1), 0), -th.sum(scores, axis=1, keepdims=True)

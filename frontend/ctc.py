"""The CTC loss (``keras.losses.ctc``): the forward algorithm in log space, as a ``th.scan``.

Keras 3's convention: ``y_true`` is ``(batch, max_length)`` integer labels
padded with 0, ``y_pred`` is ``(batch, time, classes)`` *logits* (Keras
applies ``log_softmax`` itself), class 0 is the blank, every sample uses
all ``time`` steps, and a label's length is its number of non-zero entries.
The loss of a sample is ``-log`` of the summed probability of every
alignment (a path of ``time`` symbols that collapses to the label once
repeats are merged and blanks dropped).

The recursion runs over the extended label ``blank, l1, blank, l2, ...,
blank`` (``2 L + 1`` states): a state is reached from itself, from the one
before, and from two before when that skips a blank between two different
labels.  It is a ``th.scan`` over time, so it compiles with the LLVM
backend and its gradient is the scan's own.  Impossible states hold
``LOG_EPSILON`` (Keras' -1e5) rather than -inf, so that no ``inf - inf``
reaches a gradient; a label that cannot fit in ``time`` steps gives a loss
of the order of 1e5, as in Keras.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops import eager

__all__ = ["ctc", "LOG_EPSILON"]

LOG_EPSILON = -1e5
BLANK = 0


def _check_shapes(y_true, y_pred) -> None:
    if y_true.ndim != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
                         f"integer format. Received: y_true.shape={y_true.type.shape}")
    if y_pred.ndim != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={y_pred.type.shape}")


def _extended_labels(labels):
    """``(batch, 2 L + 1)``: blanks around and between the labels (padding zeros are blanks too)."""
    blanks = th.zeros_like(labels)
    pairs = th.stack([blanks, labels], axis=2)  # (batch, L, 2): blank, label
    interleaved = th.reshape(pairs, (th.shape(labels)[0], 2 * th.shape(labels)[1]))
    return th.concatenate([interleaved, blanks[:, :1]], axis=1)


def _skip_allowed(extended):
    """Where a state may be reached from two states before: a label that differs from the previous one."""
    before = th.concatenate([extended[:, :2], extended[:, :-2]], axis=1)
    allowed = th.logical_and(th.neq(extended, BLANK), th.neq(extended, before))
    position = th.arange(th.shape(extended)[1])
    return th.logical_and(allowed, th.DimShuffle(["x", 0])(position >= 2))


def _shift(alpha, by: int):
    """``alpha`` moved ``by`` states to the right, ``LOG_EPSILON`` entering on the left."""
    filler = th.ones_like(alpha[:, :by]) * LOG_EPSILON
    return th.concatenate([filler, alpha[:, :-by]], axis=1)


@eager
def ctc(y_true, y_pred):
    """Per-sample CTC loss of padded integer labels against logits (see the module docstring)."""
    y_pred = th.as_tensor_variable(y_pred)
    y_pred = y_pred if y_pred.dtype.startswith("float") else th.cast(y_pred, th.config.floatX)
    y_true = th.as_tensor_variable(y_true)
    _check_shapes(y_true, y_pred)
    labels = th.cast(y_true, "int64")
    log_probs = th.log_softmax(y_pred, axis=-1)
    extended = _extended_labels(labels)
    num_classes = th.shape(y_pred)[2]
    # (batch, time, states): the log-probability of each state's symbol at each step
    emitted = th.matmul(log_probs, th.DimShuffle([0, 2, 1])(th.one_hot(extended, num_classes, y_pred.dtype)))
    skip_penalty = th.cast(th.where(_skip_allowed(extended), 0.0, LOG_EPSILON), y_pred.dtype)
    states = th.shape(extended)[1]
    start = th.cast(th.where(th.DimShuffle(["x", 0])(th.arange(states) < 2), 0.0, LOG_EPSILON), y_pred.dtype)
    first = emitted[:, 0, :] + start

    def step(emit, alpha, penalty):
        paths = th.stack([alpha, _shift(alpha, 1), _shift(alpha, 2) + penalty], axis=0)
        return th.logsumexp(paths, axis=0) + emit

    steps, _ = th.scan(step, sequences=[th.DimShuffle([1, 0, 2])(emitted[:, 1:, :])], outputs_info=[first],
                       non_sequences=[skip_penalty])
    last = th.concatenate([th.DimShuffle(["x", 0, 1])(first), steps], axis=0)[-1]
    length = th.sum(th.cast(th.neq(labels, BLANK), "int64"), axis=1, keepdims=True)
    position = th.DimShuffle(["x", 0])(th.arange(states))
    final = th.logical_or(th.eq(position, 2 * length), th.eq(position, 2 * length - 1))
    ends = th.where(final, last, LOG_EPSILON * 2.0)
    return -th.logsumexp(ends, axis=1)


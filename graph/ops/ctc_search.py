"""``CTCBeamSearch``: CTC prefix beam search, a NumPy ``perform`` op (host call under LLVM).

For each sequence the search keeps the ``beam_width`` most probable label
prefixes, each with two log probabilities: ending in a blank and ending in
its last label.  A step extends every prefix by every class (a blank or a
repeat of the last label keeps the prefix; a repeat only after a blank
starts a new label), merges equal prefixes, and keeps the best.  Steps at
or beyond a sequence's length are skipped.  The outputs are the
``top_paths`` best label sequences, ``(top_paths, batch, time)`` int64
padded with -1, and their log probabilities ``(batch, top_paths)``; the
inputs are logits (a log-softmax is taken).  The search is data-dependent
work with no gradient.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, is_discrete

__all__ = ["CTCBeamSearch"]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _add(table: dict, prefix: tuple, index: int, value: float) -> None:
    scores = table.setdefault(prefix, [-np.inf, -np.inf])
    scores[index] = np.logaddexp(scores[index], value)


def _search(logprobs: np.ndarray, length: int, beam_width: int, blank: int) -> list[tuple[tuple, float]]:
    """The beam of one sequence after ``length`` steps: (prefix, log probability), best first."""
    beams = {(): [0.0, -np.inf]}  # prefix -> [log p(ends in blank), log p(ends in its last label)]
    for t in range(length):
        step = logprobs[t]
        extended: dict = {}
        for prefix, (p_blank, p_label) in beams.items():
            total = np.logaddexp(p_blank, p_label)
            _add(extended, prefix, 0, total + step[blank])
            for c in range(len(step)):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    _add(extended, prefix, 1, p_label + step[c])
                    _add(extended, prefix + (c,), 1, p_blank + step[c])
                else:
                    _add(extended, prefix + (c,), 1, total + step[c])
        ranked = sorted(extended.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(((prefix, float(np.logaddexp(*scores))) for prefix, scores in beams.items()),
                    key=lambda item: -item[1])
    return ranked


class CTCBeamSearch(Op):
    """Prefix beam search over logits ``(batch, time, classes)`` with lengths ``(batch,)``."""

    __props__ = ("beam_width", "top_paths", "blank")

    def __init__(self, beam_width: int, top_paths: int, blank: int):
        if beam_width < 1 or top_paths < 1 or top_paths > beam_width:
            raise ValueError(f"ctc beam search: need 1 <= top_paths <= beam_width. Received: "
                             f"top_paths={top_paths}, beam_width={beam_width}")
        self.beam_width, self.top_paths, self.blank = int(beam_width), int(top_paths), int(blank)

    def make_node(self, logits, lengths) -> Apply:
        logits, lengths = as_tensor_variable(logits), as_tensor_variable(lengths)
        if logits.ndim != 3 or not logits.dtype.startswith("float"):
            raise TypeError(f"ctc beam search: inputs must be float (batch, time, classes). Received: {logits.type}")
        if lengths.ndim != 1 or not is_discrete(lengths.dtype):
            raise TypeError(f"ctc beam search: sequence_lengths must be an integer vector. Received: {lengths.type}")
        batch, time, _ = logits.type.shape
        return Apply(self, [logits, lengths], [TensorType("int64", (self.top_paths, batch, time)),
                                               TensorType(logits.dtype, (batch, self.top_paths))])

    def perform(self, node, inputs):
        logits, lengths = inputs
        batch, time, classes = logits.shape
        if not 0 <= self.blank < classes:
            raise ValueError(f"ctc beam search: mask_index {self.blank} is not a class of {classes}")
        paths = np.full((self.top_paths, batch, time), -1, dtype="int64")
        scores = np.full((batch, self.top_paths), -np.inf, dtype=node.outputs[1].dtype)
        logprobs = _log_softmax(logits.astype("float64"))
        for b in range(batch):
            ranked = _search(logprobs[b], min(int(lengths[b]), time), self.beam_width, self.blank)
            for k, (prefix, score) in enumerate(ranked[: self.top_paths]):
                paths[k, b, : len(prefix)] = prefix
                scores[b, k] = score
        return [paths, scores]

    def infer_shape(self, node, input_shapes):
        (batch, time, _), _ = input_shapes
        return [(self.top_paths, batch, time), (batch, self.top_paths)]

    def connection_pattern(self, node):
        return [[False, False], [False, False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]

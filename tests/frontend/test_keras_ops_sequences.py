"""keras.ops rearrange, ctc_loss and ctc_decode, eager and compiled, against NumPy references."""

import numpy as np
import pytest
from keras_ops_check import check

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(4)
IMAGES = RNG.normal(size=(2, 4, 6, 3)).astype("float32")
LOGITS = RNG.normal(size=(3, 7, 5))
TARGET = np.array([[1, 2, 2], [3, 0, 0], [4, 1, 0]])
TARGET_LENGTH, OUTPUT_LENGTH = np.array([3, 1, 2]), np.array([7, 5, 6])


def ctc_reference(target, logits, target_length, output_length, blank=0):
    """Textbook CTC: the alpha recursion over the blank-extended label, in log space."""
    losses = []
    for b in range(len(target)):
        lp = logits[b] - np.logaddexp.reduce(logits[b], axis=-1, keepdims=True)
        extended = [blank]
        for label in target[b][:target_length[b]]:
            extended += [label, blank]
        alpha = np.full(len(extended), -np.inf)
        alpha[:2] = lp[0, extended[:2]]
        for t in range(1, output_length[b]):
            previous = alpha.copy()
            for s, label in enumerate(extended):
                terms = previous[max(s - 1, 0):s + 1].tolist()
                if s >= 2 and label != blank and label != extended[s - 2]:
                    terms.append(previous[s - 2])
                alpha[s] = np.logaddexp.reduce(terms) + lp[t, label]
        losses.append(-np.logaddexp.reduce(alpha[-2:]))
    return np.array(losses)


def greedy_reference(probabilities, lengths, blank=0):
    decoded = np.full(probabilities.shape[:2], -1)
    for b, row in enumerate(probabilities.argmax(-1)):
        labels = [c for t, c in enumerate(row[:lengths[b]]) if c != blank and (t == 0 or c != row[t - 1])]
        decoded[b, :len(labels)] = labels
    scores = -np.array([probabilities[b, :n].max(-1).sum() for b, n in enumerate(lengths)])[:, None]
    return decoded[None], scores


def exact_best_paths(logits, lengths, top_paths, blank=0):
    """The most probable label sequences by summing over every alignment (small inputs only)."""
    import itertools

    paths = np.full((top_paths, len(logits), logits.shape[1]), -1)
    scores = np.zeros((len(logits), top_paths))
    for b, row in enumerate(logits):
        lp = row[:lengths[b]] - np.logaddexp.reduce(row[:lengths[b]], axis=-1, keepdims=True)
        totals = {}
        for alignment in itertools.product(range(row.shape[1]), repeat=lengths[b]):
            labels = tuple(c for t, c in enumerate(alignment) if c != blank and (t == 0 or c != alignment[t - 1]))
            totals[labels] = np.logaddexp(totals.get(labels, -np.inf), lp[np.arange(lengths[b]), alignment].sum())
        for k, (labels, score) in enumerate(sorted(totals.items(), key=lambda item: -item[1])[:top_paths]):
            paths[k, b, :len(labels)] = labels
            scores[b, k] = score
    return paths, scores


SMALL = RNG.normal(size=(2, 4, 3)) * 2

CASES = {
    "transpose": (lambda x: ops.rearrange(x, "b h w c -> b c h w"), [IMAGES], IMAGES.transpose(0, 3, 1, 2)),
    "merge": (lambda x: ops.rearrange(x, "b h w c -> h (b w) c"), [IMAGES],
              IMAGES.transpose(1, 0, 2, 3).reshape(4, 12, 3)),
    "split_merge": (lambda x: ops.rearrange(x, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=3), [IMAGES],
                    IMAGES.reshape(2, 2, 2, 2, 3, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 2, 18)),
    "ctc_loss": (lambda t, o, tl, ol: ops.ctc_loss(t, o, tl, ol), [TARGET, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH],
                 ctc_reference(TARGET, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH)),
    "ctc_loss_blank_last": (lambda t, o, tl, ol: ops.ctc_loss(t, o, tl, ol, mask_index=4),
                            [TARGET % 4, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH],
                            ctc_reference(TARGET % 4, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH, blank=4)),
    "ctc_decode": (lambda x, n: ops.ctc_decode(x, n), [LOGITS, OUTPUT_LENGTH], greedy_reference(LOGITS, OUTPUT_LENGTH)),
    "ctc_decode_beam_search_exact": (
        lambda x, n: ops.ctc_decode(x, n, strategy="beam_search", beam_width=50, top_paths=3),
        [SMALL, np.array([4, 3])], exact_best_paths(SMALL, [4, 3], 3)),
    "ctc_decode_beam_search_blank_last": (
        lambda x, n: ops.ctc_decode(x, n, strategy="beam_search", beam_width=50, top_paths=2, mask_index=2),
        [SMALL, np.array([3, 4])], exact_best_paths(SMALL, [3, 4], 2, blank=2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_op_matches_numpy(name):
    op, args, expected = CASES[name]
    check(op, args, expected, rtol=1e-6, atol=1e-6)


def test_ctc_loss_gradient_by_finite_differences():
    th.verify_grad(lambda x: ops.sum(ops.ctc_loss(TARGET, x, TARGET_LENGTH, OUTPUT_LENGTH)), [LOGITS], rng=RNG)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.rearrange(IMAGES, "b h w c"), ValueError, "one '->'"),
        (lambda: ops.rearrange(IMAGES, "b h w -> b h w"), ValueError, "names 3 axes for a tensor of rank 4"),
        (lambda: ops.rearrange(IMAGES, "b h w c -> b h w"), ValueError, "the same axes once each"),
        (lambda: ops.rearrange(IMAGES, "b (h h1 h2) w c -> b h h1 h2 w c"), ValueError, "all but one"),
        (lambda: ops.ctc_loss(TARGET[0], LOGITS, TARGET_LENGTH, OUTPUT_LENGTH), ValueError, "and target"),
        (lambda: ops.ctc_decode(LOGITS, OUTPUT_LENGTH, strategy="best"), ValueError, "strategy must be 'greedy'"),
        (lambda: ops.ctc_decode(LOGITS, OUTPUT_LENGTH, "beam_search", 2, 3), ValueError, "top_paths <= beam_width"),
    ],
)
def test_sequence_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

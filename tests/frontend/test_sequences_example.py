"""The CNN + LSTM example over sequences of digit images learns its task."""

import numpy as np

from theanine.frontend import datasets
from theanine.frontend.examples import sequences


def test_labels_say_whether_the_digits_shown_sum_above_half_the_maximum():
    (images, digits), _ = datasets.digits.load_data(flatten=False)
    frames, labels = sequences.make_sequences(images, digits, 400, seed=3)
    assert frames.shape == (400, sequences.LENGTH, 8, 8, 1) and frames.dtype == np.float32
    matches = [np.flatnonzero((images == f[..., 0]).all(axis=(1, 2))) for f in frames[0]]
    shown = [digits[m[0]] for m in matches]
    assert labels[0] == float(sum(shown) > sequences.LENGTH * 4.5)
    assert 0.35 < labels.mean() < 0.65, "both kinds of sequence are common"


def test_quick_run_learns_well_above_chance():
    result = sequences.main(quick=True, seed=0)
    assert result["loss"][-1] < result["loss"][0]
    assert result["accuracy"] >= 0.75, result["accuracy"]

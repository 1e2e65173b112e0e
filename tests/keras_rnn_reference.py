"""An independent NumPy implementation of Keras 3's recurrent equations, the oracle of the RNN tests.

Written from Keras' documented equations (gate orders, ``reset_after``,
masking: states held and the last output repeated at masked steps, zeros
with ``zero_output_for_mask``), not from theanine's layers.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simple_rnn_step(x, states, kernel, recurrent_kernel, bias):
    (h,) = states
    h = np.tanh(x @ kernel + bias + h @ recurrent_kernel)
    return h, [h]


def lstm_step(x, states, kernel, recurrent_kernel, bias):
    h, c = states
    z = x @ kernel + h @ recurrent_kernel + bias
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    return h, [h, c]


def gru_step(x, states, kernel, recurrent_kernel, bias, reset_after=True):
    (h,) = states
    units = h.shape[-1]
    if reset_after:
        x_part = x @ kernel + bias[0]
        inner = h @ recurrent_kernel + bias[1]
        x_z, x_r, x_h = np.split(x_part, 3, axis=-1)
        r_z, r_r, r_h = np.split(inner, 3, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        hh = np.tanh(x_h + r * r_h)
    else:
        x_z, x_r, x_h = np.split(x @ kernel + bias, 3, axis=-1)
        z = sigmoid(x_z + h @ recurrent_kernel[:, :units])
        r = sigmoid(x_r + h @ recurrent_kernel[:, units:2 * units])
        hh = np.tanh(x_h + (r * h) @ recurrent_kernel[:, 2 * units:])
    h = z * h + (1 - z) * hh
    return h, [h]


def run_rnn(step, x, weights, initial_states, mask=None, go_backwards=False, return_sequences=False,
            zero_output_for_mask=False, **options):
    """Keras' ``backend.rnn`` loop: returns (output, final states)."""
    steps = range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])
    states = [np.array(s, dtype=np.float64) for s in initial_states]
    previous = np.zeros_like(states[0])
    outputs = []
    for t in steps:
        out, new_states = step(x[:, t], states, *weights, **options)
        if mask is not None:
            keep = mask[:, t][:, None]
            out = np.where(keep, out, previous)
            new_states = [np.where(keep, n, s) for n, s in zip(new_states, states, strict=True)]
        states, previous = new_states, out
        outputs.append(out)
    outputs = np.stack(outputs, axis=1)
    last = outputs[:, -1]
    if zero_output_for_mask and mask is not None:
        ordered = mask[:, ::-1] if go_backwards else mask
        outputs = np.where(ordered[:, :, None], outputs, 0.0)
        last = np.where(ordered[:, -1][:, None], last, 0.0)
    return (outputs if return_sequences else last), states

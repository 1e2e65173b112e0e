"""LSTM benchmark: forward and gradients of an LSTM written with ``th.scan``.

T=50 steps, batch 32, input 64, hidden 128, float32; the cost is
``mean(h_all ** 2)`` and the gradients are taken with respect to every weight.
Prints the time of one call (median of several) for each backend, checked
against and compared with the same computation written by hand in NumPy
(a forward loop and backpropagation through time), and, when installed,
PyTorch's ``nn.LSTM`` (2 threads) and a JAX ``lax.scan`` LSTM under
``jit`` (the issue's peers), checked against the same values.  Set
``OPENBLAS_NUM_THREADS=1`` as the test suite does: on a small, shared
machine OpenBLAS's threads make every small product erratic, NumPy's own
included.

    python tests/benchmarks/bench_lstm.py
"""

from __future__ import annotations

import time

import numpy as np
from machine_peak import fma_peak

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


def numpy_lstm(x, kernel, recurrent, bias):
    """The same cost and gradients by hand: a NumPy forward loop and backpropagation through time."""
    steps, batch, _ = x.shape
    h, c = np.zeros((batch, UNITS), x.dtype), np.zeros((batch, UNITS), x.dtype)
    projected = (x.reshape(steps * batch, -1) @ kernel).reshape(steps, batch, -1) + bias
    saved = []
    for t in range(steps):
        z = projected[t] + h @ recurrent
        i, f = _sigmoid(z[:, :UNITS]), _sigmoid(z[:, UNITS:2 * UNITS])
        g, o = np.tanh(z[:, 2 * UNITS:3 * UNITS]), _sigmoid(z[:, 3 * UNITS:])
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        saved.append((h_prev, c_prev, i, f, g, o, c, h))
    hs = np.stack([s[-1] for s in saved])
    cost = np.mean(hs ** 2)
    d_hs = 2 * hs / hs.size
    d_recurrent, d_z_all = np.zeros_like(recurrent), np.empty_like(projected)
    d_h_next, d_c_next = np.zeros((batch, UNITS), x.dtype), np.zeros((batch, UNITS), x.dtype)
    for t in reversed(range(steps)):
        h_prev, c_prev, i, f, g, o, c, h = saved[t]
        d_h = d_hs[t] + d_h_next
        tanh_c = np.tanh(c)
        d_c = d_c_next + d_h * o * (1 - tanh_c ** 2)
        d_z = np.concatenate([d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g ** 2),
                              d_h * tanh_c * o * (1 - o)], axis=1)
        d_recurrent += h_prev.T @ d_z
        d_h_next, d_c_next = d_z @ recurrent.T, d_c * f
        d_z_all[t] = d_z
    d_kernel = x.reshape(steps * batch, -1).T @ d_z_all.reshape(steps * batch, -1)
    return cost, d_kernel, d_recurrent, d_z_all.sum(axis=(0, 1))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def median_time(fn, *args, repeats: int = 20) -> float:
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def lstm_flops() -> int:
    """Multiply-adds (x2) of the products: the gates' forward, the kernels' gradients and the
    gradient carried back through the recurrent kernel (the input's own gradient is not asked for)."""
    gates = 4 * UNITS
    return 2 * T * BATCH * gates * (2 * (INPUTS + UNITS) + UNITS)


def main() -> None:
    x, cost, grads = lstm_graph()
    data = np.random.default_rng(1).standard_normal((T, BATCH, INPUTS)).astype("float32")
    reference_inputs = _weights_of(cost)
    expected = numpy_lstm(data, *reference_inputs)
    baseline = median_time(numpy_lstm, data, *reference_inputs)
    print(f"NumPy by hand (forward + BPTT): {baseline * 1000:.1f} ms")
    flops, peak = lstm_flops(), fma_peak(2)
    print(f"products: {flops / 1e9:.2f} GFLOP; the cores' float32 FMA peak is {peak:.0f} GFLOP/s, "
          f"so {flops / peak / 1e6:.1f} ms at best")
    timings = {}
    for backend in ("numpy", "llvm"):
        start = time.perf_counter()
        fn = th.function([x], [cost, *grads], backend=backend)
        compile_s = time.perf_counter() - start
        got = fn(data)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=2e-3, atol=1e-6)
        seconds = median_time(fn, data)
        print(f"backend {backend:6s}: compile {compile_s:.2f} s, forward + gradients {seconds * 1000:.1f} ms "
              f"({seconds / baseline:.2f}x NumPy by hand)")
        timings[f"theanine {backend}"] = seconds
    for name, run in peers(reference_inputs).items():
        for g, e in zip(run(data), expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=2e-3, atol=1e-6)
        seconds = median_time(run, data)
        print(f"{name:20s}: forward + gradients {seconds * 1000:.1f} ms ({seconds / baseline:.2f}x NumPy by hand, "
              f"{seconds / timings['theanine llvm']:.2f}x theanine llvm)")


def peers(weights: list[np.ndarray]) -> dict:
    """name -> ``fn(data) -> [cost, d_kernel, d_recurrent, d_bias]`` for the peers that are installed."""
    found = {}
    try:
        found["torch nn.LSTM"] = _torch_lstm(*weights)
    except ImportError:
        print("torch: not installed")
    try:
        found["JAX lax.scan (jit)"] = _jax_lstm(*weights)
    except ImportError:
        print("jax: not installed")
    return found


def _torch_lstm(kernel, recurrent, bias):
    import torch

    torch.set_num_threads(2)
    lstm = torch.nn.LSTM(INPUTS, UNITS)  # gate order i, f, g, o as here; weights are (4 * units, inputs)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
    parameters = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0]

    def run(data):
        for p in parameters:
            p.grad = None
        hs, _ = lstm(torch.from_numpy(data))
        cost = (hs ** 2).mean()
        cost.backward()
        return [cost.item(), parameters[0].grad.numpy().T, parameters[1].grad.numpy().T, parameters[2].grad.numpy()]

    return run


def _jax_lstm(kernel, recurrent, bias):
    import jax
    import jax.numpy as jnp

    def cost_of(params, data):
        k, r, b = params
        projected = data @ k + b

        def step(carry, z_x):
            h, c = carry
            z = z_x + h @ r
            i, f = jax.nn.sigmoid(z[:, :UNITS]), jax.nn.sigmoid(z[:, UNITS:2 * UNITS])
            g, o = jnp.tanh(z[:, 2 * UNITS:3 * UNITS]), jax.nn.sigmoid(z[:, 3 * UNITS:])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((BATCH, UNITS), data.dtype)
        _, hs = jax.lax.scan(step, (zeros, zeros), projected)
        return jnp.mean(hs ** 2)

    both = jax.jit(jax.value_and_grad(cost_of))
    params = tuple(jnp.asarray(w) for w in (kernel, recurrent, bias))

    def run(data):
        cost, grads = both(params, data)
        return [np.asarray(cost), *(np.asarray(g) for g in grads)]

    return run


def _weights_of(cost) -> list[np.ndarray]:
    """kernel, recurrent, bias: the shared variables of the graph, by name."""
    found = {v.name: v for v in th.graph.basic.graph_inputs([cost]) if isinstance(v, th.SharedVariable)}
    return [found[name].get_value() for name in ("kernel", "recurrent", "bias")]


if __name__ == "__main__":
    main()

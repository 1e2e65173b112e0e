"""Convolution benchmark: theanine's native lowering next to NumPy and, when installed, PyTorch and JAX.

Run on its own (pytest ignores this folder):

    python tests/benchmarks/bench_conv.py            # all three workloads
    python tests/benchmarks/bench_conv.py 2          # only workload 2

GFLOP/s count the multiply-adds of the direct (im2col) form, so Winograd's
F(2x2, 3x3), which the 3x3 unit-stride convolutions with 8 channels or more
take by default, shows as an effective rate; rows marked "im2col only"
compile the same graph without it.

Workloads (the "Speed" section of the convolutional-networks issue):
1. one SGD step of input (64, 28, 28, 1) float32 -> Conv2D 3x3 32 same ->
   ReLU -> MaxPool 2 -> Conv2D 3x3 64 same -> ReLU -> MaxPool 2 -> Flatten ->
   Dense 10 -> softmax crossentropy: theanine, its numpy backend, PyTorch
   eager (2 threads) and JAX jit when installed;
2. forward conv 3x3, 64 -> 64 channels, 56x56, batch 8, float32: GFLOP/s
   next to NumPy's sgemm on the im2col-shaped matrices (the bar: 70%), the
   conv with bias and ReLU with the GEMM epilogue and as a pass of its own
   (``config.gemm_epilogues``), and the same in 4 groups (one batched GEMM)
   next to the numpy backend;
3. depthwise 3x3 on (8, 56, 56, 128) and max pool 2x2 on the same: GB/s
   (input read plus output written) next to a plain copy.

Times are minima over repeats after a warm-up, each result checked against
the numpy backend first.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import time

import numpy as np
from machine_peak import fma_peak

import theanine as th
from theanine.codegen.program.rules import winograd

F32 = "float32"


@contextlib.contextmanager
def im2col_only():
    """Convolutions compiled as im2col GEMMs, Winograd's form out of reach (``winograd.MIN_CHANNELS``):
    the row beside the default shows what the form saves."""
    saved = winograd.MIN_CHANNELS
    winograd.MIN_CHANNELS = 1 << 30
    try:
        yield
    finally:
        winograd.MIN_CHANNELS = saved


def best(fn, repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cnn_parameters(rng) -> list[np.ndarray]:
    return [(rng.standard_normal((3, 3, 1, 32)) * 0.3).astype(F32), np.zeros(32, F32),
            (rng.standard_normal((3, 3, 32, 64)) * 0.05).astype(F32), np.zeros(64, F32),
            (rng.standard_normal((7 * 7 * 64, 10)) * 0.01).astype(F32), np.zeros(10, F32)]


def cnn_step_function(values, backend: str = "llvm"):
    """The compiled SGD step ``(x, y) -> loss`` of workload 1, on shared copies of ``values``."""
    shared = [th.shared(v.copy()) for v in values]
    k1, b1, k2, b2, w, b = shared
    x, y = th.tensor("x", F32, (None, 28, 28, 1)), th.tensor("y", "int64", (None,))
    h = th.max_pool(th.relu(th.conv(x, k1, padding="same") + b1), 2)
    h = th.max_pool(th.relu(th.conv(h, k2, padding="same") + b2), 2)
    logits = h.reshape((x.shape[0], -1)) @ w + b
    loss = th.sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
    return th.function([x, y], loss, updates=[(p, p - 0.01 * g) for p, g in zip(shared, th.grad(loss, shared),
                                                                                 strict=True)], backend=backend)


def cnn_step_theanine(backend: str, values, x_value, y_value) -> float:
    step = cnn_step_function(values, backend)
    if backend == "llvm" and step.python_fallbacks:
        print("  python fallbacks:", [str(n.op) for n in step.python_fallbacks])
    return best(lambda: step(x_value, y_value), 10 if backend == "numpy" else 30)


def cnn_step_torch(values, x_value, y_value) -> float:
    import torch

    torch.set_num_threads(2)
    k1, b1, k2, b2, w, b = (torch.tensor(v, requires_grad=True) for v in values)
    x = torch.tensor(x_value).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(y_value)
    weights = [k1.permute(3, 2, 0, 1), k2.permute(3, 2, 0, 1)]

    def step():
        h = torch.relu(torch.nn.functional.conv2d(x, weights[0], b1, padding=1))
        h = torch.nn.functional.max_pool2d(h, 2)
        h = torch.relu(torch.nn.functional.conv2d(h, weights[1], b2, padding=1))
        h = torch.nn.functional.max_pool2d(h, 2).permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        loss = torch.nn.functional.cross_entropy(h @ w + b, y)
        grads = torch.autograd.grad(loss, [k1, b1, k2, b2, w, b])
        with torch.no_grad():
            for p, g in zip([k1, b1, k2, b2, w, b], grads, strict=True):
                p -= 0.01 * g

    return best(step)


def cnn_step_jax(values, x_value, y_value) -> float:
    import jax
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        k1, b1, k2, b2, w, b = params
        dims = ("NHWC", "HWIO", "NHWC")
        h = jax.nn.relu(jax.lax.conv_general_dilated(x, k1, (1, 1), "SAME", dimension_numbers=dims) + b1)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = jax.nn.relu(jax.lax.conv_general_dilated(h, k2, (1, 1), "SAME", dimension_numbers=dims) + b2)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        logits = h.reshape(x.shape[0], -1) @ w + b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def step(params, x, y):
        grads = jax.grad(loss_fn)(params, x, y)
        return [p - 0.01 * g for p, g in zip(params, grads, strict=True)]

    params = [jnp.asarray(v) for v in values]
    x, y = jnp.asarray(x_value), jnp.asarray(y_value)
    return best(lambda: jax.block_until_ready(step(params, x, y)))


def cnn_step_flops(batch: int) -> int:
    """Multiply-adds (x2) of workload 1's products: each conv's forward and kernel gradient, the second
    conv's input gradient, the dense layer's forward, weight and input gradients."""
    conv1 = 2 * batch * 28 * 28 * 9 * 1 * 32
    conv2 = 2 * batch * 14 * 14 * 9 * 32 * 64
    dense = 2 * batch * 7 * 7 * 64 * 10
    return 2 * conv1 + 3 * conv2 + 3 * dense


def workload_1() -> None:
    rng = np.random.default_rng(0)
    values = cnn_parameters(rng)
    x_value = rng.random((64, 28, 28, 1), dtype=np.float32)
    y_value = rng.integers(0, 10, 64)
    rows = [("theanine llvm", cnn_step_theanine("llvm", values, x_value, y_value))]
    with im2col_only():
        rows.append(("theanine llvm, im2col only", cnn_step_theanine("llvm", values, x_value, y_value)))
    rows.append(("theanine numpy backend", cnn_step_theanine("numpy", values, x_value, y_value)))
    if importlib.util.find_spec("torch"):
        rows.append(("torch eager (2 threads)", cnn_step_torch(values, x_value, y_value)))
    if importlib.util.find_spec("jax"):
        rows.append(("jax jit", cnn_step_jax(values, x_value, y_value)))
    flops, peak = cnn_step_flops(len(x_value)), fma_peak(2)
    print("1. CNN SGD step, batch 64, 28x28x1 (conv 32, pool, conv 64, pool, dense 10): "
          f"{flops / 1e9:.2f} GFLOP of products; the cores' float32 FMA peak is {peak:.0f} GFLOP/s")
    base = rows[0][1]
    for name, seconds in rows:
        rate = flops / seconds / 1e9
        print(f"  {name:28s} {seconds * 1e3:8.2f} ms   {seconds / base:5.2f}x theanine's time"
              f"   {rate:6.1f} GFLOP/s ({100 * rate / peak:.0f}% of peak)")


def workload_2() -> None:
    rng = np.random.default_rng(1)
    x_value = rng.standard_normal((8, 56, 56, 64)).astype(F32)
    k_value = (rng.standard_normal((3, 3, 64, 64)) * 0.05).astype(F32)
    x, k = th.tensor("x", F32, (None, 56, 56, 64)), th.tensor("k", F32, (3, 3, 64, 64))
    f = th.function([x, k], th.conv(x, k, padding="same"))
    with im2col_only():
        f_im2col = th.function([x, k], th.conv(x, k, padding="same"))
    expected = th.function([x, k], th.conv(x, k, padding="same"), backend="numpy")(x_value, k_value)
    np.testing.assert_allclose(f(x_value, k_value), expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(f_im2col(x_value, k_value), expected, rtol=1e-3, atol=1e-3)
    flops = 2 * 8 * 56 * 56 * 64 * 9 * 64
    seconds = best(lambda: f(x_value, k_value))
    seconds_im2col = best(lambda: f_im2col(x_value, k_value))
    cols = rng.standard_normal((8 * 56 * 56, 9 * 64)).astype(F32)
    matrix = k_value.reshape(9 * 64, 64)
    gemm = best(lambda: cols @ matrix)
    print("2. forward conv 3x3, 64 -> 64 channels, 56x56, batch 8, float32")
    print(f"  theanine llvm (Winograd)    {seconds * 1e3:8.2f} ms   {flops / seconds / 1e9:6.1f} GFLOP/s")
    print(f"  theanine llvm, im2col only  {seconds_im2col * 1e3:8.2f} ms   {flops / seconds_im2col / 1e9:6.1f} GFLOP/s")
    print(f"  numpy sgemm (im2col shapes) {gemm * 1e3:8.2f} ms   {flops / gemm / 1e9:6.1f} GFLOP/s"
          f"   theanine at {100 * gemm / seconds:.0f}% of it ({100 * gemm / seconds_im2col:.0f}% with im2col)")
    bias = th.constant((rng.standard_normal(64) * 0.1).astype(F32))
    activated = th.relu(th.conv(x, k, padding="same") + bias)
    for name, fused in (("+ bias + relu, epilogue", True), ("+ bias + relu, own pass", False)):
        with th.config.context(gemm_epilogues=fused):
            h = th.function([x, k], activated)
        seconds = best(lambda h=h: h(x_value, k_value))
        print(f"  {name:27s} {seconds * 1e3:8.2f} ms   {flops / seconds / 1e9:6.1f} GFLOP/s")
    grouped = th.tensor("k", F32, (3, 3, 16, 64))
    out = th.conv(x, grouped, padding="same", groups=4)
    g_value = k_value[:, :, :16]
    for name, backend in (("theanine llvm, 4 groups", "llvm"), ("numpy backend, 4 groups", "numpy")):
        g = th.function([x, grouped], out, backend=backend)
        seconds = best(lambda g=g: g(x_value, g_value), repeats=5)
        print(f"  {name:27s} {seconds * 1e3:8.2f} ms   {flops / 4 / seconds / 1e9:6.1f} GFLOP/s")


def workload_3() -> None:
    rng = np.random.default_rng(2)
    x_value = rng.standard_normal((8, 56, 56, 128)).astype(F32)
    k_value = rng.standard_normal((3, 3, 128, 1)).astype(F32)
    x = th.tensor("x", F32, (None, 56, 56, 128))
    depthwise = th.function([x], th.depthwise_conv(x, th.constant(k_value), padding="same"))
    pool = th.function([x], th.max_pool(x, 2))
    copy = best(lambda: x_value.copy())
    print("3. depthwise 3x3 and max pool 2x2 on (8, 56, 56, 128) float32")
    print(f"  plain copy                  {copy * 1e3:8.2f} ms   {2 * x_value.nbytes / copy / 1e9:6.1f} GB/s")
    for name, f, out_bytes in (("depthwise", depthwise, x_value.nbytes), ("max pool", pool, x_value.nbytes // 4)):
        seconds = best(lambda f=f: f(x_value))
        fallbacks = " (host call: " + ", ".join(type(n.op).__name__ for n in f.python_fallbacks) + ")" \
            if f.python_fallbacks else ""
        print(f"  {name:27s} {seconds * 1e3:8.2f} ms   {(x_value.nbytes + out_bytes) / seconds / 1e9:6.1f} GB/s"
              f"{fallbacks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"theanine convolution benchmark | load average {load}")
    for number in args.workloads:
        {1: workload_1, 2: workload_2, 3: workload_3}[number]()


if __name__ == "__main__":
    main()

"""GPU benchmark of the ``cuda`` backend next to PyTorch on the same GPU (run by hand where a GPU exists).

    python tests/benchmarks/bench_cuda.py            # everything
    python tests/benchmarks/bench_cuda.py optable    # only the op table under "cuda"

Sections (the "Speed" and "Verification" parts of the CUDA issue):

1. ``optable``: every row of the op table under backend "cuda", checked
   against its NumPy reference; prints the rows that fail.
2. ``steps``: the MLP (784-512-512-10), CNN (bench_conv's) and LSTM
   (bench_lstm's) training steps at batch 128/64/32 and 8x those, under
   "cuda" and under PyTorch on the same GPU (when torch with CUDA is installed).
3. ``elementwise``: the fused expression of the CPU benchmark over 100M
   float32, as a whole call (host transfers included) and as its kernel
   alone, next to the GPU's device-to-device copy bandwidth (the bar: 80%).

Without pycuda or a GPU it prints why and exits 0, so it is import-clean
anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def gpu_missing() -> str | None:
    """Why the GPU benchmark cannot run here, or None."""
    if importlib.util.find_spec("pycuda") is None:
        return "pycuda is not installed (pip install 'theanine[gpu]')"
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() == 0:
            return "the NVIDIA driver sees no device"
    except Exception as error:
        return f"the NVIDIA driver could not be initialized ({error})"
    return None


def best(fn, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_cuda():
    """torch when it is installed with a usable GPU, else None."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch if torch.cuda.is_available() else None


# --- 1: the op table --------------------------------------------------------------


def op_table() -> None:
    import theanine as th
    from op_table import all_cases, tolerance

    failures = []
    cases = all_cases()
    for case in cases:
        variables = [th.tensor(f"in{i}", np.asarray(a).dtype,
                               np.shape(a) if case.static_shapes else (None,) * np.ndim(a))
                     for i, a in enumerate(case.inputs)]
        out = case.build(*variables)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        try:
            got = th.function(variables, outs, backend="cuda")(*case.inputs)
            with np.errstate(all="ignore"):
                expected = case.reference(*case.inputs)
            expected = expected if isinstance(expected, (list, tuple)) else [expected]
            for g, e in zip(got, expected, strict=True):
                rtol, atol = tolerance(g.dtype)
                np.testing.assert_allclose(g, e, rtol=case.rtol or rtol, atol=case.atol or atol, equal_nan=True)
        except Exception as error:  # report every failing row, not only the first
            failures.append(f"{case.id}: {type(error).__name__}: {str(error)[:200]}")
    print(f"op table under cuda: {len(cases) - len(failures)}/{len(cases)} rows agree with NumPy")
    for line in failures:
        print("  FAIL", line)


# --- 2: training steps --------------------------------------------------------------


def _mlp_step(th, batch: int):
    from cpu_workloads import mlp_initial_parameters

    rng = np.random.default_rng(3)
    parameters = [th.shared(p) for p in mlp_initial_parameters()]
    x, labels = th.matrix("x", dtype="float32"), th.vector("labels", dtype="int64")
    hidden = x
    for layer in range(3):
        hidden = th.matmul(hidden, parameters[2 * layer]) + parameters[2 * layer + 1]
        if layer < 2:
            hidden = th.relu(hidden)
    loss = th.sparse_categorical_crossentropy(labels, hidden, from_logits=True).mean()
    updates = [(p, p - np.float32(0.01) * g) for p, g in zip(parameters, th.grad(loss, parameters), strict=True)]
    f = th.function([x, labels], loss, updates=updates, backend="cuda")
    data = rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)
    return lambda: f(*data)


def _mlp_torch(torch, batch: int):
    from cpu_workloads import mlp_initial_parameters

    rng = np.random.default_rng(3)
    parameters = [torch.from_numpy(p).cuda().requires_grad_() for p in mlp_initial_parameters()]
    x = torch.from_numpy(rng.standard_normal((batch, 784)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, batch))

    def run():
        hidden = x.cuda()
        for layer in range(3):
            hidden = hidden @ parameters[2 * layer] + parameters[2 * layer + 1]
            if layer < 2:
                hidden = torch.relu(hidden)
        loss = torch.nn.functional.cross_entropy(hidden, labels.cuda())
        gradients = torch.autograd.grad(loss, parameters)
        with torch.no_grad():
            for p, g in zip(parameters, gradients, strict=True):
                p.sub_(0.01 * g)
        return loss.item()

    return run


def _cnn_step(th, batch: int):
    from bench_conv import cnn_parameters

    rng = np.random.default_rng(0)
    shared = [th.shared(v) for v in cnn_parameters(rng)]
    k1, b1, k2, b2, w, b = shared
    x, y = th.tensor("x", "float32", (None, 28, 28, 1)), th.tensor("y", "int64", (None,))
    h = th.max_pool(th.relu(th.conv(x, k1, padding="same") + b1), 2)
    h = th.max_pool(th.relu(th.conv(h, k2, padding="same") + b2), 2)
    logits = h.reshape((x.shape[0], -1)) @ w + b
    loss = th.sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
    updates = [(p, p - np.float32(0.01) * g) for p, g in zip(shared, th.grad(loss, shared), strict=True)]
    f = th.function([x, y], loss, updates=updates, backend="cuda")
    data = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, batch)
    return lambda: f(*data)


def _cnn_torch(torch, batch: int):
    from bench_conv import cnn_parameters

    rng = np.random.default_rng(0)
    k1, b1, k2, b2, w, b = (torch.from_numpy(v).cuda().requires_grad_() for v in cnn_parameters(rng))
    parameters = [k1, b1, k2, b2, w, b]
    x = torch.from_numpy(rng.standard_normal((batch, 28, 28, 1)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    conv = torch.nn.functional.conv2d

    def run():
        h = x.cuda().permute(0, 3, 1, 2)
        h = torch.max_pool2d(torch.relu(conv(h, k1.permute(3, 2, 0, 1), padding=1) + b1[:, None, None]), 2)
        h = torch.max_pool2d(torch.relu(conv(h, k2.permute(3, 2, 0, 1), padding=1) + b2[:, None, None]), 2)
        logits = h.permute(0, 2, 3, 1).reshape(batch, -1) @ w + b
        loss = torch.nn.functional.cross_entropy(logits, y.cuda())
        gradients = torch.autograd.grad(loss, parameters)
        with torch.no_grad():
            for p, g in zip(parameters, gradients, strict=True):
                p.sub_(0.01 * g)
        return loss.item()

    return run


def _lstm_step(th, batch: int):
    import bench_lstm

    bench_lstm.BATCH = batch
    x, cost, grads = bench_lstm.lstm_graph()
    f = th.function([x], [cost, *grads], backend="cuda")
    data = np.random.default_rng(1).standard_normal((bench_lstm.T, batch, bench_lstm.INPUTS)).astype(np.float32)
    return lambda: f(data)


def steps() -> None:
    import theanine as th

    torch = torch_cuda()
    peers = {"mlp": _mlp_torch, "cnn": _cnn_torch}
    for name, build, base in (("mlp", _mlp_step, 128), ("cnn", _cnn_step, 64), ("lstm", _lstm_step, 32)):
        for batch in (base, 8 * base):
            ours = best(build(th, batch))
            line = f"{name} step, batch {batch}: theanine cuda {ours * 1e3:.2f} ms"
            if torch is not None and name in peers:
                theirs = best(peers[name](torch, batch))
                line += f", torch {theirs * 1e3:.2f} ms ({theirs / ours:.2f}x torch's speed)"
            print(line)


# --- 3: fused elementwise over 100M float32 -------------------------------------------


def _kernel_alone(f, values, n: int):
    """The one elementwise kernel of ``f`` and what launching it reads (its operands on the
    device), so the kernel can be timed without the call's transfers."""
    from theanine.runtime.cuda.runner import _Shapes

    runner = f._run.__self__
    arrays = [None] * len(runner.program.buffers)
    for buffer, value in zip(runner.program.inputs, values, strict=True):
        arrays[buffer] = runner._upload(value)[0]
    for step in runner.program.steps:
        for out in getattr(step, "outputs", ()):
            arrays[out] = runner._allocate((n,), np.dtype(np.float32))[0]
    (kernel,) = [k for kernels in runner.kernels.values() for k in kernels]
    return kernel, _Shapes(runner, arrays, {})


def elementwise() -> None:
    import pycuda.driver as cuda

    import theanine as th

    n = 100_000_000
    x, y = th.vector("x"), th.vector("y")
    f = th.function([x, y], th.exp(-x * x) * 0.5 + y * th.tanh(y), backend="cuda")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    whole = best(lambda: f(a, b), repeats=5)
    kernel, shapes = _kernel_alone(f, (a, b), n)

    def launch_only():
        f._run.__self__._launch(kernel, shapes)
        cuda.Context.synchronize()

    alone = best(launch_only)
    source, target = cuda.mem_alloc(4 * n), cuda.mem_alloc(4 * n)

    def copy():
        cuda.memcpy_dtod(target, source, 4 * n)
        cuda.Context.synchronize()

    bandwidth = 2 * 4 * n / best(copy) / 1e9
    kernel_gbps = 3 * 4 * n / alone / 1e9
    print(f"fused elementwise, 100M float32: whole call {whole * 1e3:.1f} ms (host transfers included); "
          f"kernel {alone * 1e3:.2f} ms = {kernel_gbps:.0f} GB/s, {kernel_gbps / bandwidth:.0%} of the "
          f"device copy bandwidth ({bandwidth:.0f} GB/s)")


SECTIONS = {"optable": op_table, "steps": steps, "elementwise": elementwise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help=f"any of {sorted(SECTIONS)} (default: all)")
    args = parser.parse_args()
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; expected any of {sorted(SECTIONS)}")
    missing = gpu_missing()
    if missing:
        print(f"bench_cuda: skipped: {missing}")
        return
    import pycuda.driver as cuda

    print(f"GPU: {cuda.Device(0).name()}")
    for name in args.sections or SECTIONS:
        SECTIONS[name]()


if __name__ == "__main__":
    main()

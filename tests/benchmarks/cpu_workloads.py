"""The five workloads of the CPU benchmark, one measuring function per implementation.

Each measuring function builds its implementation, checks its result
against NumPy (a fast wrong answer is an error, not a result), times it
(minimum over repeats after warm-up) and returns ``Row``s.  They are run by
``bench_cpu.py``, each in a fresh process.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MLP_SIZES = (784, 512, 512, 10)
BATCH = 128
LEARNING_RATE = 0.01
ELEMENTWISE_SIZE = 10_000_000
MATRIX_SIDE = 4096

# --- measuring ---------------------------------------------------------------


@dataclass
class Row:
    """One implementation's result on one workload (seconds None: it failed)."""

    impl: str
    seconds: float | None
    gbps: float | None = None
    gflops: float | None = None
    note: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def best_time(
    run: Callable[[], object], repeat: int = 7, number: int = 1, warmup: int = 2
) -> float:
    """Seconds per call: the minimum over ``repeat`` timings of ``number`` calls, after warm-up."""
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            run()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def check_close(impl: str, got, expected: np.ndarray, rtol: float, atol: float) -> str:
    """Raise if ``got`` differs from the reference; return the max abs error as a note."""
    got = np.asarray(got)
    if got.shape != expected.shape:
        raise AssertionError(f"{impl}: shape {got.shape}, expected {expected.shape}")
    error = float(np.max(np.abs(got.astype(np.float64) - expected))) if expected.size else 0.0
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise AssertionError(f"{impl} disagrees with NumPy (max abs error {error:.3g})")
    return f"max|err| {error:.1e}"


def copy_bandwidth(nbytes: int) -> float:
    """GB/s (bytes read + written) of ``np.copyto`` between two preallocated arrays."""
    source = np.ones(nbytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    return 2 * nbytes / best_time(lambda: np.copyto(target, source)) / 1e9


def streamed(
    impl: str, call, expected, nbytes: int, repeat: int, rtol=1e-4, atol=1e-5
) -> list[Row]:
    """Check ``call()``, time it, and report GB/s for ``nbytes`` moved per call."""
    note = check_close(impl, call(), expected, rtol, atol)
    seconds = best_time(call, repeat=repeat)
    return [Row(impl, seconds, gbps=nbytes / seconds / 1e9, note=note)]


def jax_call(jitted, *arrays):
    """A call of ``jitted`` on device copies of ``arrays`` that waits for the result."""
    import jax

    device = [jax.device_put(a) for a in arrays]
    return lambda: jitted(*device).block_until_ready()


# --- 1: fused elementwise ------------------------------------------------------


@functools.cache
def elementwise_data() -> tuple[np.ndarray, np.ndarray]:
    data = np.random.default_rng(0).uniform(-3, 3, ELEMENTWISE_SIZE).astype(np.float32)
    exact = data.astype(np.float64)
    return data, np.exp(-exact * exact) * np.sin(3 * exact) + 0.5 * np.tanh(exact)


def _elementwise(impl: str, build: Callable[[np.ndarray], Callable[[], object]]) -> list[Row]:
    data, expected = elementwise_data()
    return streamed(impl, build(data), expected, 2 * data.nbytes, repeat=5, atol=2e-6)


def elementwise_theanine() -> list[Row]:
    import theanine as th

    x = th.vector("x", dtype="float32")
    f = th.function([x], th.exp(-x * x) * th.sin(3 * x) + 0.5 * th.tanh(x), backend="llvm")
    return _elementwise("theanine llvm", lambda data: lambda: f(data))


def elementwise_numpy() -> list[Row]:
    three, half = np.float32(3), np.float32(0.5)
    return _elementwise(
        "numpy", lambda x: lambda: np.exp(-x * x) * np.sin(three * x) + half * np.tanh(x)
    )


def elementwise_pytensor() -> list[Row]:
    import pytensor
    import pytensor.tensor as pt

    x = pt.vector("x", dtype="float32")
    f = pytensor.function([x], pt.exp(-x * x) * pt.sin(3 * x) + 0.5 * pt.tanh(x))
    return _elementwise("pytensor (C)", lambda data: lambda: f(data))


def elementwise_jax() -> list[Row]:
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: jnp.exp(-x * x) * jnp.sin(3 * x) + 0.5 * jnp.tanh(x))
    return _elementwise("jax jit", lambda data: jax_call(f, data))


def elementwise_torch() -> list[Row]:
    import torch

    f = torch.compile(lambda x: torch.exp(-x * x) * torch.sin(3 * x) + 0.5 * torch.tanh(x))
    return _elementwise("torch.compile", lambda data: lambda: f(torch.from_numpy(data)).numpy())


# --- 2: row softmax and sum of squares ----------------------------------------


@functools.cache
def matrix_data() -> np.ndarray:
    shape = (MATRIX_SIDE, MATRIX_SIDE)
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


def numpy_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _softmax(impl: str, build: Callable[[np.ndarray], Callable[[], object]]) -> list[Row]:
    data = matrix_data()
    expected = numpy_softmax(data.astype(np.float64))
    return streamed(impl, build(data), expected, 2 * data.nbytes, repeat=7, atol=1e-6)


def softmax_theanine() -> list[Row]:
    import theanine as th

    x = th.matrix("x", dtype="float32")
    f = th.function([x], th.softmax(x, axis=1), backend="llvm")
    return _softmax("theanine llvm", lambda data: lambda: f(data))


def softmax_numpy() -> list[Row]:
    return _softmax("numpy", lambda data: lambda: numpy_softmax(data))


def softmax_pytensor() -> list[Row]:
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.special import softmax

    x = pt.matrix("x", dtype="float32")
    f = pytensor.function([x], softmax(x, axis=1))
    return _softmax("pytensor (C)", lambda data: lambda: f(data))


def softmax_jax() -> list[Row]:
    import jax

    f = jax.jit(lambda x: jax.nn.softmax(x, axis=1))
    return _softmax("jax jit", lambda data: jax_call(f, data))


def softmax_torch() -> list[Row]:
    import torch

    return _softmax("torch eager", lambda data: lambda: torch.softmax(torch.from_numpy(data), 1))


def _sum_squares(impl: str, build: Callable[[np.ndarray], Callable[[], object]]) -> list[Row]:
    data = matrix_data()
    expected = (data.astype(np.float64) ** 2).sum(axis=1)
    nbytes = data.nbytes + 4 * data.shape[0]
    return streamed(impl, build(data), expected, nbytes, repeat=9, rtol=1e-5, atol=0)


def sum_squares_theanine() -> list[Row]:
    import theanine as th

    x = th.matrix("x", dtype="float32")
    f = th.function([x], (x**2).sum(axis=1), backend="llvm")
    return _sum_squares("theanine llvm", lambda data: lambda: f(data))


def sum_squares_numpy() -> list[Row]:
    return _sum_squares("numpy (einsum)", lambda data: lambda: np.einsum("ij,ij->i", data, data))


def sum_squares_pytensor() -> list[Row]:
    import pytensor
    import pytensor.tensor as pt

    x = pt.matrix("x", dtype="float32")
    f = pytensor.function([x], (x**2).sum(axis=1))
    return _sum_squares("pytensor (C)", lambda data: lambda: f(data))


def sum_squares_jax() -> list[Row]:
    import jax

    f = jax.jit(lambda x: (x**2).sum(axis=1))
    return _sum_squares("jax jit", lambda data: jax_call(f, data))


def sum_squares_torch() -> list[Row]:
    """Eager and ``torch.compile`` (the issue's reference for this stream)."""
    import torch

    compiled = torch.compile(lambda x: (x**2).sum(1))
    return _sum_squares("torch eager", lambda data: lambda: (torch.from_numpy(data) ** 2).sum(1)) + _sum_squares(
        "torch.compile", lambda data: lambda: compiled(torch.from_numpy(data)).numpy()
    )


# --- 3: MLP training step --------------------------------------------------------


def mlp_initial_parameters() -> list[np.ndarray]:
    """He-initialised weights and zero biases, the same for every implementation."""
    rng = np.random.default_rng(2)
    parameters = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True):
        weights = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)
        parameters += [weights.astype(np.float32), np.zeros(fan_out, dtype=np.float32)]
    return parameters


def mlp_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((BATCH, MLP_SIZES[0])).astype(np.float32)
    return x, rng.integers(0, MLP_SIZES[-1], BATCH)


def mlp_flops() -> int:
    """Matmul FLOPs of one step: forward, weight gradients, input gradients of layers 2 and 3."""
    products = [a * b for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True)]
    return 2 * BATCH * (2 * sum(products) + sum(products[1:]))


def numpy_matmul_gflops() -> float:
    """GFLOP/s of NumPy's matmul on the step's own products, into preallocated outputs."""
    rng = np.random.default_rng(4)
    sizes = list(zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True))
    shapes = [((BATCH, i), (i, o)) for i, o in sizes]  # forward
    shapes += [((i, BATCH), (BATCH, o)) for i, o in sizes]  # weight gradients
    shapes += [((BATCH, o), (o, i)) for i, o in sizes[1:]]  # input gradients
    products = [
        (rng.standard_normal(a).astype(np.float32), rng.standard_normal(b).astype(np.float32))
        for a, b in shapes
    ]
    outputs = [np.empty((a.shape[0], b.shape[1]), dtype=np.float32) for a, b in products]

    def run():
        for (a, b), out in zip(products, outputs, strict=True):
            np.matmul(a, b, out=out)

    return mlp_flops() / best_time(run, repeat=100, warmup=10) / 1e9


def numpy_mlp_step(parameters: list[np.ndarray], x: np.ndarray, labels: np.ndarray) -> float:
    """One hand-written NumPy SGD step (in place); returns the loss before the update."""
    activations, hidden = [x], x
    for layer in range(3):
        hidden = hidden @ parameters[2 * layer] + parameters[2 * layer + 1]
        if layer < 2:
            hidden = np.maximum(hidden, 0)
        activations.append(hidden)
    shifted = hidden - hidden.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_probabilities[rows, labels].mean()
    delta = np.exp(log_probabilities)
    delta[rows, labels] -= 1
    delta /= len(labels)
    for layer in (2, 1, 0):
        weights = parameters[2 * layer]
        weight_gradient = activations[layer].T @ delta
        bias_gradient = delta.sum(axis=0)
        if layer:
            delta = (delta @ weights.T) * (activations[layer] > 0)
        weights -= weights.dtype.type(LEARNING_RATE) * weight_gradient
        parameters[2 * layer + 1] -= weights.dtype.type(LEARNING_RATE) * bias_gradient
    return float(loss)


def _mlp(impl: str, build: Callable[[np.ndarray, np.ndarray], Callable[[], object]]) -> list[Row]:
    """Check the losses of three steps against float64 NumPy, then time further steps."""
    x, labels = mlp_batch()
    reference = [p.astype(np.float64) for p in mlp_initial_parameters()]
    expected = [numpy_mlp_step(reference, x.astype(np.float64), labels) for _ in range(3)]
    step = build(x, labels)
    losses = [float(step()) for _ in range(3)]
    np.testing.assert_allclose(losses, expected, rtol=2e-3, err_msg=f"{impl}: losses of 3 steps")
    seconds = best_time(step, repeat=100, warmup=10)
    return [Row(impl, seconds, gflops=mlp_flops() / seconds / 1e9)]


def theanine_mlp_graph(th):
    """Inputs, loss and SGD updates of the MLP as a theanine graph (shared parameters)."""
    parameters = [th.shared(p, name=f"p{i}") for i, p in enumerate(mlp_initial_parameters())]
    x, labels = th.matrix("x", dtype="float32"), th.vector("labels", dtype="int64")
    hidden = x
    for layer in range(3):
        hidden = th.matmul(hidden, parameters[2 * layer]) + parameters[2 * layer + 1]
        if layer < 2:
            hidden = th.relu(hidden)
    loss = th.sparse_categorical_crossentropy(labels, hidden, from_logits=True).mean()
    gradients = th.grad(loss, parameters)
    rate = np.float32(LEARNING_RATE)
    updates = [(p, p - rate * g) for p, g in zip(parameters, gradients, strict=True)]
    return [x, labels], loss, updates


def mlp_theanine() -> list[Row]:
    import theanine as th

    inputs, loss, updates = theanine_mlp_graph(th)
    f = th.function(inputs, loss, updates=updates, backend="llvm")
    return _mlp("theanine llvm", lambda x, labels: lambda: f(x, labels))


def mlp_numpy() -> list[Row]:
    parameters = mlp_initial_parameters()
    return _mlp(
        "numpy (hand-written)", lambda x, labels: lambda: numpy_mlp_step(parameters, x, labels)
    )


def pytensor_mlp_function():
    """The PyTensor step function (shared parameters, SGD updates)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    parameters = [pytensor.shared(p) for p in mlp_initial_parameters()]
    x, labels = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int64")
    hidden = x
    for layer in range(3):
        hidden = hidden @ parameters[2 * layer] + parameters[2 * layer + 1]
        if layer < 2:
            hidden = pt.maximum(hidden, 0)
    loss = -log_softmax(hidden, axis=1)[pt.arange(labels.shape[0]), labels].mean()
    gradients = pytensor.grad(loss, parameters)
    rate = np.float32(LEARNING_RATE)
    updates = [(p, p - rate * g) for p, g in zip(parameters, gradients, strict=True)]
    return pytensor.function([x, labels], loss, updates=updates)


def mlp_pytensor() -> list[Row]:
    f = pytensor_mlp_function()
    return _mlp("pytensor (C)", lambda x, labels: lambda: f(x, labels))


def jax_mlp_step():
    """The jitted JAX step ``(parameters, x, labels) -> (loss, new parameters)``."""
    import jax
    import jax.numpy as jnp

    def loss_of(parameters, x, labels):
        hidden = x
        for layer in range(3):
            hidden = hidden @ parameters[2 * layer] + parameters[2 * layer + 1]
            if layer < 2:
                hidden = jax.nn.relu(hidden)
        log_probabilities = jax.nn.log_softmax(hidden, axis=1)
        return -jnp.take_along_axis(log_probabilities, labels[:, None], axis=1).mean()

    def step(parameters, x, labels):
        loss, gradients = jax.value_and_grad(loss_of)(parameters, x, labels)
        return loss, [p - LEARNING_RATE * g for p, g in zip(parameters, gradients, strict=True)]

    return jax.jit(step, donate_argnums=0)


def mlp_jax() -> list[Row]:
    import jax

    step = jax_mlp_step()
    state = [jax.device_put(p) for p in mlp_initial_parameters()]

    def build(x, labels):
        device_x, device_labels = jax.device_put(x), jax.device_put(labels.astype(np.int32))

        def run():
            loss, state[:] = step(list(state), device_x, device_labels)
            return loss.block_until_ready()

        return run

    return _mlp("jax jit", build)


def mlp_torch() -> list[Row]:
    import torch

    parameters = [torch.from_numpy(p).requires_grad_() for p in mlp_initial_parameters()]

    def build(x, labels):
        tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)

        def run():
            hidden = tx
            for layer in range(3):
                hidden = hidden @ parameters[2 * layer] + parameters[2 * layer + 1]
                if layer < 2:
                    hidden = torch.relu(hidden)
            loss = torch.nn.functional.cross_entropy(hidden, tlabels)
            gradients = torch.autograd.grad(loss, parameters)
            with torch.no_grad():
                for p, g in zip(parameters, gradients, strict=True):
                    p.sub_(LEARNING_RATE * g)
            return loss.detach()

        return run

    return _mlp("torch eager", build)


# --- 4: call overhead ------------------------------------------------------------


def _overhead(
    impl: str, build: Callable[[np.ndarray, np.ndarray], Callable[[], object]], note=""
) -> list[Row]:
    a, b = np.arange(10, dtype=np.float32), np.ones(10, dtype=np.float32)
    call = build(a, b)
    check_close(impl, call(), (a + b).astype(np.float64), rtol=0, atol=0)
    return [Row(impl, best_time(call, repeat=7, number=20_000, warmup=1000), note=note)]


def overhead_theanine() -> list[Row]:
    import theanine as th

    x, y = th.vector("x", dtype="float32"), th.vector("y", dtype="float32")
    f = th.function([x, y], x + y, backend="llvm")
    return _overhead("theanine llvm", lambda a, b: lambda: f(a, b), "default input checks")


def overhead_numpy() -> list[Row]:
    return _overhead("numpy", lambda a, b: lambda: a + b, "a + b, no function call")


def _pytensor_add(trust_input: bool):
    import pytensor
    import pytensor.tensor as pt

    x, y = pt.vector("x", dtype="float32"), pt.vector("y", dtype="float32")
    f = pytensor.function([x, y], x + y)
    f.trust_input = trust_input
    return lambda a, b: lambda: f(a, b)


def overhead_pytensor() -> list[Row]:
    return _overhead("pytensor (C)", _pytensor_add(False)) + _overhead(
        "pytensor (C) trust_input", _pytensor_add(True), "input checks off"
    )


def overhead_jax() -> list[Row]:
    import jax

    f = jax.jit(lambda x, y: x + y)
    return _overhead("jax jit", lambda a, b: jax_call(f, a, b))


def overhead_torch() -> list[Row]:
    import torch

    return _overhead(
        "torch eager",
        lambda a, b: (lambda x, y: lambda: x + y)(torch.from_numpy(a), torch.from_numpy(b)),
    )


# --- 5: compile time in fresh processes -------------------------------------------
# "import" is ``import theanine`` plus the llvm backend's modules (loaded lazily by
# the first th.function); "compile" is the th.function call; "first call" the first run.

THEANINE_COMPILE = """
import theanine as th
import theanine.runtime.llvm.backend
imported = time.perf_counter()
inputs, loss, updates = cpu_workloads.theanine_mlp_graph(th)
built = time.perf_counter()
f = th.function(inputs, loss, updates=updates, backend="llvm")
compiled = time.perf_counter()
f(*cpu_workloads.mlp_batch())
"""

PYTENSOR_COMPILE = """
import pytensor
imported = built = time.perf_counter()
f = cpu_workloads.pytensor_mlp_function()
compiled = time.perf_counter()
f(*cpu_workloads.mlp_batch())
"""

JAX_COMPILE = """
import jax
imported = time.perf_counter()
x, labels = cpu_workloads.mlp_batch()
parameters = [jax.device_put(p) for p in cpu_workloads.mlp_initial_parameters()]
built = time.perf_counter()
step = cpu_workloads.jax_mlp_step().lower(parameters, x, labels.astype("int32")).compile()
compiled = time.perf_counter()
step(parameters, x, labels.astype("int32"))
"""

CHILD_FRAME = """
import json, sys, time
sys.path.insert(0, {here!r})
import cpu_workloads
start = time.perf_counter()
{body}
called = time.perf_counter()
print(json.dumps({{"import": imported - start, "graph": built - imported,
                  "compile": compiled - built, "first call": called - compiled}}))
"""


def fresh_process_timings(body: str, env: dict[str, str]) -> dict[str, float]:
    """Run ``body`` (which sets imported/built/compiled) in a fresh interpreter; its timings."""
    code = CHILD_FRAME.format(here=str(HERE), body=textwrap.dedent(body).strip())
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode:
        raise RuntimeError(f"fresh process failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _compile_row(impl: str, timings: dict[str, float]) -> Row:
    parts = [f"{name} {timings[name] * 1e3:.0f} ms" for name in ("import", "graph", "first call")]
    return Row(impl, timings["compile"], note=", ".join(parts))


def _empty_then_warm(
    impl: str, body: str, cache_variable: Callable[[str], dict[str, str]]
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        return [
            _compile_row(f"{impl}, {label}", fresh_process_timings(body, cache_variable(cache)))
            for label in ("empty cache", "warm cache")
        ]


def compile_theanine() -> list[Row]:
    return _empty_then_warm("theanine llvm", THEANINE_COMPILE, lambda d: {"THEANINE_CACHE_DIR": d})


def compile_pytensor() -> list[Row]:
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    return _empty_then_warm(
        "pytensor (C)", PYTENSOR_COMPILE, lambda d: {"PYTENSOR_FLAGS": f"{flags},compiledir={d}"}
    )


def compile_jax() -> list[Row]:
    return [_compile_row("jax jit (lower + compile)", fresh_process_timings(JAX_COMPILE, {}))]

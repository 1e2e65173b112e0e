"""Compile time of the LSTM training function, empty and warm cache, next to JAX's.

Two workloads, each timed in fresh interpreters (so nothing is cached in
memory), first with an empty on-disk cache (a new temporary directory:
``THEANINE_CACHE_DIR`` for theanine, JAX's persistent compilation cache
for JAX), then again with the cache the first run filled:

- ``function``: bench_lstm.py's LSTM (T=50, batch 32, input 64, hidden 128,
  float32, written with ``th.scan``), cost ``mean(h_all ** 2)``, its
  gradients and an SGD update of the three weights, as one
  ``th.function(updates=...)``; next to the same step written with
  ``jax.lax.scan``, ``jax.value_and_grad`` and ``jax.jit``
  (``lower().compile()``).
- ``model``: ``Input((50, 64)) -> LSTM(128) -> Dense(1)``, mse, SGD, the
  first ``train_on_batch`` (tracing and compiling the train function, then
  one step) minus a later one; theanine's frontend next to Keras 3 on JAX
  (when keras is installed; else "skipped: keras not installed").

Columns: "graph" builds the symbolic graph (JAX: the arrays only, tracing
is in "compile"; model: building and compiling the model object),
"compile" makes the callable (theanine: rewrites, lowering, LLVM or the
cache; JAX: trace, lower, XLA compile or its cache), "first call" runs it
once (model: one steady step).

    python tests/benchmarks/bench_lstm_compile.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

THEANINE_FUNCTION = """
import numpy as np
import theanine as th
import bench_lstm
imported = time.perf_counter()
x, cost, grads = bench_lstm.lstm_graph()
weights = [v for v in th.graph.basic.graph_inputs([cost]) if isinstance(v, th.SharedVariable)]
grads = th.grad(cost, weights)
updates = [(w, w - np.float32(0.01) * g) for w, g in zip(weights, grads)]
data = np.random.default_rng(1).standard_normal(x.type.shape).astype("float32")
built = time.perf_counter()
step = th.function([x], cost, updates=updates)
compiled = time.perf_counter()
step(data)
called = time.perf_counter()
"""

JAX_FUNCTION = """
import numpy as np
import jax, jax.numpy as jnp
from bench_lstm import T, BATCH, INPUTS, UNITS
imported = time.perf_counter()

def cost(params, x):
    kernel, recurrent, bias = params
    def step(carry, x_t):
        h, c = carry
        z = x_t @ kernel + h @ recurrent + bias
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h
    zeros = jnp.zeros((x.shape[1], UNITS), x.dtype)
    _, hs = jax.lax.scan(step, (zeros, zeros), x)
    return jnp.mean(hs ** 2)

@jax.jit
def train_step(params, x):
    value, grads = jax.value_and_grad(cost)(params, x)
    return [p - 0.01 * g for p, g in zip(params, grads)], value

rng = np.random.default_rng(0)
params = [jnp.asarray(rng.uniform(-0.1, 0.1, s).astype("float32"))
          for s in ((INPUTS, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,))]
data = jnp.asarray(np.random.default_rng(1).standard_normal((T, BATCH, INPUTS)).astype("float32"))
built = time.perf_counter()
step = train_step.lower(params, data).compile()
compiled = time.perf_counter()
jax.block_until_ready(step(params, data))
called = time.perf_counter()
"""

MODEL = """
import numpy as np
{imports}
from bench_lstm import T, BATCH, INPUTS, UNITS
imported = time.perf_counter()
model = models.Sequential([layers.Input((T, INPUTS)), layers.LSTM(UNITS), layers.Dense(1)])
model.compile(optimizer=optimizers.SGD(learning_rate=0.01), loss="mse")
rng = np.random.default_rng(1)
x = rng.standard_normal((BATCH, T, INPUTS)).astype("float32")
y = rng.standard_normal((BATCH, 1)).astype("float32")
built = time.perf_counter()
model.train_on_batch(x, y)
first = time.perf_counter()
steps = []
for _ in range(3):
    begin = time.perf_counter()
    model.train_on_batch(x, y)
    steps.append(time.perf_counter() - begin)
steady = min(steps)
compiled, called = first - steady, first  # the first step less a steady one; then one steady step
"""

THEANINE_MODEL = MODEL.format(imports="from theanine.frontend import layers, models, optimizers")
KERAS_MODEL = MODEL.format(imports="import keras\nfrom keras import layers, optimizers\nmodels = keras")

JAX_CACHE = """
import jax
jax.config.update("jax_compilation_cache_dir", {cache!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
"""

CHILD_FRAME = """
import json, sys, time
sys.path.insert(0, {here!r})
start = time.perf_counter()
{prelude}
{body}
print(json.dumps({{"import": imported - start, "graph": built - imported,
                  "compile": compiled - built, "first call": called - compiled}}))
"""


def fresh_process(body: str, env: dict[str, str], prelude: str = "") -> dict[str, float]:
    """Run ``body`` (it sets imported, built and compiled) in a new interpreter; its timings."""
    code = CHILD_FRAME.format(here=str(HERE), prelude=textwrap.dedent(prelude).strip(),
                              body=textwrap.dedent(body).strip())
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=1800, check=False)
    if done.returncode:
        raise RuntimeError(f"fresh process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def empty_then_warm(label: str, body: str, framework: str) -> None:
    """Print the timings of two fresh processes sharing one cache directory, empty at first."""
    with tempfile.TemporaryDirectory(prefix="bench-lstm-cache-") as cache:
        for state in ("empty cache", "warm cache"):
            if framework == "theanine":
                timings = fresh_process(body, {"THEANINE_CACHE_DIR": cache})
            else:
                timings = fresh_process(body, {"KERAS_BACKEND": "jax"}, JAX_CACHE.format(cache=cache))
            parts = ", ".join(f"{k} {timings[k] * 1e3:.0f} ms" for k in ("import", "graph", "first call"))
            print(f"  {label + ', ' + state:40s} compile {timings['compile']:6.2f} s   ({parts})")


def available(*names: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in names)


def main() -> None:
    print("LSTM training function (T=50, batch 32, input 64, hidden 128, float32), fresh processes:")
    empty_then_warm("theanine th.function (llvm)", THEANINE_FUNCTION, "theanine")
    if available("jax"):
        empty_then_warm("jax.jit lax.scan", JAX_FUNCTION, "jax")
    else:
        print("  jax.jit lax.scan: skipped: jax not installed")
    print("LSTM model train function (Input -> LSTM(128) -> Dense(1), first train_on_batch minus a later one):")
    empty_then_warm("theanine frontend", THEANINE_MODEL, "theanine")
    if available("keras", "jax"):
        empty_then_warm("Keras 3 + JAX", KERAS_MODEL, "jax")
    else:
        print("  Keras 3 + JAX: skipped: keras not installed")


if __name__ == "__main__":
    main()

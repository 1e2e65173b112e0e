"""Large outputs: what a caller's loop pays when it keeps the last result while asking for the next.

    python tests/benchmarks/bench_outputs.py

A row softmax of 4096x4096 float32 (64 MB out) called as ``out = f(x)`` in a
loop (the previous result is still held during the call) and as ``del out;
out = f(x)`` (nothing held).  A fresh 64 MB array costs its page faults;
the runner keeps two arrays per output and reuses one the caller dropped,
so both loops should take the same time.  Minima over repeats.
"""

from __future__ import annotations

import os
import time

import numpy as np

import theanine as th


def main(repeats: int = 20) -> None:
    x = th.matrix("x")
    f = th.function([x], th.softmax(x, axis=-1))
    value = np.random.default_rng(0).standard_normal((4096, 4096)).astype("float32")
    out = f(value)
    holding = dropping = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = f(value)
        holding = min(holding, time.perf_counter() - start)
    for _ in range(repeats):
        del out
        start = time.perf_counter()
        out = f(value)
        dropping = min(dropping, time.perf_counter() - start)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-4)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"row softmax 4096x4096 float32 | load average {load}")
    print(f"  out = f(x), previous result held   {holding * 1e3:7.2f} ms")
    print(f"  del out; out = f(x)                {dropping * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()

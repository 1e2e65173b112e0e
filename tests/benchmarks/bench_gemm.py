"""GEMM choices side by side in one process: the CNN step of bench_conv.py (workload 1) and the MLP step of
bench_cpu.py (workload 3) compiled under each setting, timed in interleaved rounds.

Run on its own (pytest ignores this folder):

    python tests/benchmarks/bench_gemm.py            # 12 rounds
    python tests/benchmarks/bench_gemm.py --rounds 30

Settings: ``config.jit_blas`` (whose OpenBLAS the compiled products call:
SciPy's, or NumPy's scipy-openblas64) and ``config.gemm_epilogues`` (the
bias add and activation after a product run on each block of it inside the
GEMM's step, or as passes of their own).  On a machine that other work
shares, only the per-round ratios mean much: each round times every
setting once, so they see about the same load; the table gives the median
of the per-round ratios to the first setting, and each setting's median and
minimum time.
"""

from __future__ import annotations

import argparse
import os
import time

import bench_conv
import cpu_workloads
import numpy as np

import theanine as th

SETTINGS = {
    "scipy BLAS, separate passes": {"jit_blas": "scipy", "gemm_epilogues": False},
    "numpy BLAS, separate passes": {"jit_blas": "numpy", "gemm_epilogues": False},
    "scipy BLAS, epilogues": {"jit_blas": "scipy", "gemm_epilogues": True},
    "numpy BLAS, epilogues": {"jit_blas": "numpy", "gemm_epilogues": True},
}


def workloads() -> dict[str, tuple]:
    """name -> (build function, arguments, calls per timing)."""
    rng = np.random.default_rng(0)
    values = bench_conv.cnn_parameters(rng)
    images, labels = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)

    def mlp():
        inputs, loss, updates = cpu_workloads.theanine_mlp_graph(th)
        return th.function(inputs, loss, updates=updates)

    return {"CNN step (bench_conv 1)": (lambda: bench_conv.cnn_step_function(values), (images, labels), 4),
            "MLP step (bench_cpu 3)": (mlp, cpu_workloads.mlp_batch(), 40)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    rounds = parser.parse_args().rounds
    cases, works = {}, workloads()
    for work, (build, arguments, calls) in works.items():
        for setting, changes in SETTINGS.items():
            with th.config.context(**changes):
                cases[work, setting] = (build(), arguments, calls)
    for f, arguments, _ in cases.values():
        for _ in range(3):
            f(*arguments)
    times: dict = {key: [] for key in cases}
    for _ in range(rounds):
        for key, (f, arguments, calls) in cases.items():
            start = time.perf_counter()
            for _ in range(calls):
                f(*arguments)
            times[key].append((time.perf_counter() - start) / calls)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"theanine GEMM settings | {os.cpu_count()} CPUs, load average {load} | {rounds} rounds")
    first = next(iter(SETTINGS))
    for work in works:
        print(work)
        base = np.array(times[work, first])
        for setting in SETTINGS:
            seconds = np.array(times[work, setting])
            print(f"  {setting:30s} median {np.median(seconds) * 1e3:8.3f} ms   min {seconds.min() * 1e3:8.3f} ms"
                  f"   speed-up {np.median(base / seconds):5.2f}x")


if __name__ == "__main__":
    main()

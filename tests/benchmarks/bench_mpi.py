"""Data-parallel training over MPI: samples/s with 1 and 2 ranks, the allreduce share, a model.

``python tests/benchmarks/bench_mpi.py [--model mlp|cnn|both] [--batch 64]`` launches itself
under ``mpirun -np 1`` and ``-np 2`` (loopback, root allowed) and prints, per
rank count: training samples/s at a fixed global batch, the step time, and
the time of the step's gradient allreduce measured alone (same bytes,
same buckets), with its share of the step.  Then a model of the step time:

    t_step(N) = t_compute(B / N) + t_allreduce(P, N)
    t_allreduce(P, N) ~ a * log2(N) + 2 (N - 1) / N * 4 P / bw     (ring allreduce)

fitted from the measured points (``a`` the latency, ``bw`` the bandwidth),
and where adding ranks stops paying off: when the compute saved,
t_compute(B/N) - t_compute(B/2N), falls below the extra allreduce time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

STEPS = 40


def _build(kind: str):
    from theanine.frontend import layers, models, optimizers
    from theanine.frontend.examples import digits_cnn

    if kind == "cnn":
        return digits_cnn.build_digits_cnn(total_steps=1000)
    model = models.Sequential([layers.Input(shape=(64,)), layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _worker(kind: str, batch: int) -> None:
    import theanine as th
    from theanine.frontend import datasets, distribute

    strategy = distribute.MPIDataParallel()
    (x, y), _ = datasets.digits.load_data(flatten=kind == "mlp")
    x = x[..., None] if kind == "cnn" else x
    reps = -(-batch * STEPS // len(x))
    x, y = np.concatenate([x] * reps)[: batch * STEPS], np.concatenate([y] * reps)[: batch * STEPS]
    th.set_seed(0)
    with strategy.scope():
        model = _build(kind)
    model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    strategy.comm.Barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    step = (time.perf_counter() - start) / STEPS
    grads = [th.zeros_like(w) for w in model.trainable_weights]
    sizes = [sum(int(np.prod(model.trainable_weights[i].get_value().shape)) for i in b)
             for b in strategy.buckets(grads)]
    vectors = [th.tensor(f"g{i}", "float32", (n,)) for i, n in enumerate(sizes)]
    reduce = th.function(vectors, [th.distributed.allreduce(v) for v in vectors])
    values = [np.ones(n, "float32") for n in sizes]
    reduce(*values)
    strategy.comm.Barrier()
    start = time.perf_counter()
    for _ in range(200):
        reduce(*values)
    allreduce = (time.perf_counter() - start) / 200
    if strategy.is_chief:
        print(json.dumps({"ranks": strategy.size, "model": kind, "batch": batch, "step_s": step,
                          "samples_per_s": batch / step, "allreduce_s": allreduce,
                          "parameters": sum(sizes), "buckets": len(sizes)}))


def _launch(ranks: int, kind: str, batch: int) -> dict:
    launcher = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or "mpirun"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    done = subprocess.run(
        [launcher, "-np", str(ranks), "--oversubscribe", "--mca", "btl_tcp_if_include", "lo",
         sys.executable, __file__, "--worker", "--model", kind, "--batch", str(batch)],
        capture_output=True, text=True, timeout=600, env=env, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(rows: list[dict]) -> None:
    one, two = rows
    print(f"\n{one['model'].upper()}: {one['parameters']:,} parameters ({4 * one['parameters'] / 1e6:.2f} MB of "
          f"float32 gradients, {two['buckets']} bucket(s)), global batch {one['batch']}")
    print(f"{'ranks':>6} {'samples/s':>10} {'step ms':>8} {'allreduce ms':>13} {'share':>6}")
    for row in rows:
        share = row["allreduce_s"] / row["step_s"]
        print(f"{row['ranks']:>6} {row['samples_per_s']:>10.0f} {row['step_s'] * 1e3:>8.2f} "
              f"{row['allreduce_s'] * 1e3:>13.3f} {share:>6.1%}")
    compute = one["step_s"] - one["allreduce_s"]  # the whole batch's work on one rank
    nbytes = 4 * two["parameters"]
    latency = 20e-6  # per ring hop on loopback (a few us to tens of us); the bandwidth is fitted
    bandwidth = nbytes / max(two["allreduce_s"] - latency, 1e-9)
    print(f"model: t_step(N) = {compute * 1e3:.2f} ms / N + a*log2 N + 2(N-1)/N * bytes/bw, "
          f"a = {latency * 1e6:.0f} us, bw = {bandwidth / 1e9:.2f} GB/s (fitted on 2 ranks)")
    for scale in (1, 10, 100):
        times = [scale * compute / n + _allreduce_time(n, scale * nbytes, latency, bandwidth)
                 for n in (1, 2, 4, 8, 16, 32)]
        best = (1, 2, 4, 8, 16, 32)[int(np.argmin(times))]
        print(f"  {scale:>3}x the parameters (compute x{scale} too): t_step(N=1,2,4,...,32) = "
              + " ".join(f"{t * 1e3:.2f}" for t in times) + f" ms; best N = {best}")


def _allreduce_time(ranks: int, nbytes: float, latency: float, bandwidth: float) -> float:
    """The ring allreduce model: ``a * log2 N + 2 (N - 1) / N * bytes / bw`` (0 for one rank)."""
    if ranks == 1:
        return 0.0
    return latency * np.log2(ranks) + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("mlp", "cnn", "both"), default="both")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.model, args.batch)
        return
    for kind in ("mlp", "cnn") if args.model == "both" else (args.model,):
        _report([_launch(ranks, kind, args.batch) for ranks in (1, 2)])


if __name__ == "__main__":
    main()

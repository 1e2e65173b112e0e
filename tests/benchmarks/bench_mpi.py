"""Data-parallel training over MPI: samples/s with 1 and 2 ranks, the allreduce share, a model.

``python tests/benchmarks/bench_mpi.py [--model mlp|cnn|both] [--batch 64]`` launches itself
under ``mpirun`` (loopback, root allowed): one rank at global batch B, one
rank at B/2 (the per-rank work of two ranks), two ranks at B, each rank with
``threads_per_rank`` threads.  It prints samples/s, the step time, and the
time of the step's gradient allreduce measured alone (same bytes, same
buckets, compiled like the step's) with its share of the step.  Then a
model of the step time fitted from those runs and from allreduces of 1 and
2**20 floats (latency ``a``, bandwidth ``bw``):

    t_step(N) = t_fixed + t_sample * B / N + a * log2(N) + 2 (N - 1) / N * 4 P / bw

and where adding ranks stops paying off, for the model and for 10x and 100x
its parameters (and flops).
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
BLOCKS = 3


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
    (x, y), _ = datasets.digits.load_data(flatten=kind == "mlp")  # repeated to STEPS batches
    x = x[..., None] if kind == "cnn" else x
    reps = -(-batch * STEPS // len(x))
    x, y = np.concatenate([x] * reps)[: batch * STEPS], np.concatenate([y] * reps)[: batch * STEPS]
    th.set_seed(0)
    with strategy.scope(), th.config.context(num_threads=strategy.threads_per_rank):
        _measure(strategy, kind, batch, x, y)


def _measure(strategy, kind: str, batch: int, x, y) -> None:
    import theanine as th

    with strategy.scope():
        model = _build(kind)
    model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    step = float("inf")
    for _ in range(BLOCKS):  # the best of a few blocks: this machine is shared and 2 cores are few
        strategy.comm.Barrier()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        step = min(step, (time.perf_counter() - start) / STEPS)
    grads = [th.zeros_like(w) for w in model.trainable_weights]
    sizes = [sum(int(np.prod(model.trainable_weights[i].get_value().shape)) for i in b)
             for b in strategy.buckets(grads)]
    if strategy.is_chief:
        print(json.dumps({"ranks": strategy.size, "model": kind, "batch": batch, "step_s": step,
                          "samples_per_s": batch / step, "allreduce_s": _allreduce_time(strategy, sizes),
                          "latency_s": _allreduce_time(strategy, [1]),
                          "bulk_s": _allreduce_time(strategy, [1 << 20], repeats=10),
                          "parameters": sum(sizes), "buckets": len(sizes)}))
    else:
        for sizes_now, repeats in ((sizes, 200), ([1], 200), ([1 << 20], 10)):
            _allreduce_time(strategy, sizes_now, repeats)


def _allreduce_time(strategy, sizes: list[int], repeats: int = 200) -> float:
    """Seconds per call of a compiled function that allreduces float32 vectors of ``sizes``."""
    import theanine as th

    vectors = [th.tensor(f"g{i}", "float32", (n,)) for i, n in enumerate(sizes)]
    reduce = th.function(vectors, [th.distributed.allreduce(v) for v in vectors])
    values = [np.ones(n, "float32") for n in sizes]
    reduce(*values)
    best = float("inf")
    for _ in range(BLOCKS):
        strategy.comm.Barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            reduce(*values)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def _launch(ranks: int, kind: str, batch: int) -> dict:
    launcher = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or "mpirun"
    # ranks that spin while they wait take the cores of the ranks they wait for: yield when idle
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1")
    done = subprocess.run(
        [launcher, "-np", str(ranks), "--oversubscribe", "--mca", "btl_tcp_if_include", "lo",
         sys.executable, __file__, "--worker", "--model", kind, "--batch", str(batch)],
        capture_output=True, text=True, timeout=600, env=env, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(full: dict, half: dict, two: dict) -> None:
    """The measured table, then the fitted model of the step time against N and model size."""
    print(f"\n{full['model'].upper()}: {full['parameters']:,} parameters ({4 * full['parameters'] / 1e6:.2f} MB "
          f"of float32 gradients, {two['buckets']} bucket(s)), global batch {full['batch']}")
    print(f"{'ranks':>6} {'batch/rank':>10} {'samples/s':>10} {'step ms':>8} {'allreduce ms':>13} {'share':>6}")
    for row, per_rank in ((full, full["batch"]), (half, half["batch"]), (two, two["batch"] // 2)):
        share = row["allreduce_s"] / row["step_s"] if row["ranks"] > 1 else 0.0
        print(f"{row['ranks']:>6} {per_rank:>10} {row['samples_per_s']:>10.0f} {row['step_s'] * 1e3:>8.2f} "
              f"{row['allreduce_s'] * 1e3 if row['ranks'] > 1 else 0:>13.3f} {share:>6.1%}")
    per_sample = max(full["step_s"] - half["step_s"], 0.0) / (full["batch"] - half["batch"])
    fixed = max(full["step_s"] - per_sample * full["batch"], 0.0)
    latency = two["latency_s"]
    bandwidth = 4 * (1 << 20) / max(two["bulk_s"] - latency, 1e-9)
    predicted = fixed + per_sample * full["batch"] / 2 + _ring(2, 4 * two["parameters"], latency, bandwidth)
    print(f"model: t_step(N) = t_fixed + t_sample * B / N + t_allreduce(N), t_allreduce(N) = a * log2 N + "
          f"2 (N-1)/N * bytes / bw\n  fitted: t_fixed = {fixed * 1e3:.2f} ms (per-step work that does not "
          f"shrink: the Python loop, small kernels), t_sample = {per_sample * 1e6:.1f} us, a = "
          f"{latency * 1e6:.0f} us, bw = {bandwidth / 1e9:.2f} GB/s (loopback, 2 ranks)\n"
          f"  predicted t_step on 2 machines = {predicted * 1e3:.2f} ms; measured with 2 ranks on this one machine "
          f"= {two['step_s'] * 1e3:.2f} ms (its cores shared: one rank already used them all with its threads)")
    ranks = (1, 2, 4, 8, 16, 32, 64)
    for scale in (1, 10, 100):
        times = [fixed + scale * per_sample * full["batch"] / n + _ring(n, scale * 4 * two["parameters"], latency,
                                                                         bandwidth) for n in ranks]
        best = ranks[int(np.argmin(times))]
        print(f"  {scale:>3}x the parameters and flops: t_step(N = {', '.join(map(str, ranks))}) = "
              + ", ".join(f"{t * 1e3:.2f}" for t in times) + f" ms; fastest at N = {best}")
    print("  doubling N saves t_sample * B / 2N of compute and adds about a + (bytes/bw) / N^2 of allreduce: it "
          "stops paying once B/N samples cost less than one allreduce latency plus the gradient bytes over the "
          "link, and t_fixed bounds the speed-up at (t_fixed + t_sample B) / t_fixed whatever N")


def _ring(ranks: int, nbytes: float, latency: float, bandwidth: float) -> float:
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
        _report(_launch(1, kind, args.batch), _launch(1, kind, args.batch // 2), _launch(2, kind, args.batch))


if __name__ == "__main__":
    main()

"""Cold compile of the MLP training step, taken apart: where the time goes, and what it needs of the CPUs.

Run on its own (pytest ignores this folder):

    python tests/benchmarks/bench_compile.py            # 9 fresh processes per setting
    python tests/benchmarks/bench_compile.py --runs 15

Each run is a fresh interpreter with an empty cache directory that compiles
bench_cpu's workload 3 (``cpu_workloads.theanine_mlp_graph``) once, with
``config.compile_processes`` 1 (the module compiles whole, in one child) and
0 (one part per core).  Per setting it prints medians of:

* ``wall``: the ``th.function`` call, as bench_cpu's workload 5 times it;
* ``parent cpu``: CPU seconds of the compiling process itself (rewrites,
  lowering, printing, loading), and of it ``blas``, the BLAS addresses that
  the parent loads while its children compile;
* ``children cpu``: all compiling children together, and ``longest child``
  (a child compiles several parts in turn when fewer cores are idle than
  there are parts: see ``jit.idle_cores``);
* ``critical path``: parent cpu - blas + longest child, what the compile
  would take if every part had a core of its own.  On a busy shared
  machine (see the load average printed beside) the wall time says more
  about the other processes than about the compile; this does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import json, os, resource, sys, threading, time
    from pathlib import Path
    sys.path.insert(0, {here!r})
    import theanine as th
    import theanine.runtime.llvm.backend
    import theanine.runtime.threads
    from theanine.runtime.llvm import jit
    import cpu_workloads

    emit = jit._optimize_and_emit

    def timed_emit(text):  # runs in a compiling child: its CPU seconds come back with its object
        start = time.process_time()
        out = emit(text)
        with open(os.path.join({spool!r}, str(os.getpid())), "a") as f:
            f.write(f"{{time.process_time() - start}}\\n")
        return out

    jit._optimize_and_emit = timed_emit
    blas = [0.0]
    addresses = jit.blas_addresses

    def timed_blas(*args):
        start = time.process_time()
        result = addresses(*args)
        blas[0] += time.process_time() - start
        return result

    jit.blas_addresses = timed_blas

    def cpu(who):
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    th.config.compile_processes = {processes}
    if {side_by_side}:
        jit.idle_cores = theanine.runtime.threads.available_cores
    inputs, loss, updates = cpu_workloads.theanine_mlp_graph(th)
    parent, kids, start = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    f = th.function(inputs, loss, updates=updates, backend="llvm")
    wall = time.perf_counter() - start
    parent = cpu(resource.RUSAGE_SELF) - parent
    for thread in threading.enumerate():  # the threads that reap children which answered
        if thread.daemon:
            thread.join()
    kids = cpu(resource.RUSAGE_CHILDREN) - kids
    f(*cpu_workloads.mlp_batch())
    each = [sum(map(float, p.read_text().split())) for p in Path({spool!r}).iterdir()]
    parts = sum(len(p.read_text().split()) for p in Path({spool!r}).iterdir())
    print(json.dumps({{"wall": wall, "parent cpu": parent, "blas": blas[0], "children cpu": kids,
                      "longest child": max(each), "parts": parts, "children": len(each),
                      "critical path": parent - blas[0] + max(each)}}))
""")


def one_run(processes: int, side_by_side: bool) -> dict[str, float]:
    """One fresh interpreter compiling the MLP step with an empty cache; its figures in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as cache, \
            tempfile.TemporaryDirectory(prefix="bench-compile-children-") as spool:
        code = CHILD.format(here=str(HERE), spool=spool, processes=processes, side_by_side=side_by_side)
        result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "THEANINE_CACHE_DIR": cache},
                                capture_output=True, text=True, timeout=600)
        if result.returncode:
            raise RuntimeError(f"the compiling process failed:\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per setting (default 9)")
    runs = parser.parse_args().runs
    settings = {"compile_processes=1 (whole module)": (1, False),
                "compile_processes=0 (default: a part per core)": (0, False),
                "the same, parts side by side at any load": (0, True)}
    results: dict[str, list[dict[str, float]]] = {label: [] for label in settings}
    loads = [os.getloadavg()[0]]
    for _ in range(runs):  # alternate, so both settings see the same load
        for label, (processes, side_by_side) in settings.items():
            results[label].append(one_run(processes, side_by_side))
        loads.append(os.getloadavg()[0])
    print(f"cold compile of the MLP step, {os.cpu_count()} CPUs, {runs} runs per setting, "
          f"load average {min(loads):.2f} to {max(loads):.2f}; medians in ms (parts, children: counts)")
    for label, rows in results.items():
        figures = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        text = ", ".join(f"{key} {value:.0f}" if key in ("parts", "children") else f"{key} {value * 1e3:.0f}"
                         for key, value in figures.items())
        print(f"  {label}: {text}")


if __name__ == "__main__":
    main()

"""CPU benchmark of the llvm backend against NumPy and, when installed, PyTensor, JAX and PyTorch.

Run on its own (pytest ignores this folder):

    python tests/benchmarks/bench_cpu.py              # all five workloads
    python tests/benchmarks/bench_cpu.py 1 4          # only workloads 1 and 4
    python tests/benchmarks/bench_cpu.py --no-peers   # theanine and NumPy only
    python tests/benchmarks/bench_cpu.py 5 --runs 9   # medians of 9 fresh processes each

Workloads (the "Speed" section of the compiled-CPU-backend issue):
1. fused elementwise ``exp(-x*x) * sin(3*x) + 0.5*tanh(x)`` over 10M float32;
2. row softmax and ``sum(x**2, axis=1)`` on 4096x4096 float32 (GB/s next
   to a plain copy's);
3. one SGD training step of a 784-512-512-10 ReLU MLP with softmax
   crossentropy, batch 128, float32 (GFLOP/s next to NumPy's own matmul
   on the same sizes);
4. call overhead of a compiled ``x + y`` on two 10-element float32 vectors;
5. compile time of that training step in fresh processes, empty and warm
   disk cache (import, graph building and first call reported apart).

Every implementation is measured in a fresh process of its own, so that
no peer's thread pool (OpenMP after torch, XLA's) runs beside another's
measurement; each checks its result against NumPy before it is timed.
Times are minima over repeats after warm-up; "vs theanine" is that time
divided by theanine's (above 1: theanine is faster), measured in this run.
Peers: PyTensor with its C backend (``PYTENSOR_FLAGS=linker=cvm``: its
default Numba backend needs an older llvmlite than theanine's), JAX ``jit``,
PyTorch (``torch.compile`` for the elementwise expression, eager elsewhere).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import cpu_workloads as w
import numpy as np
from machine_peak import fma_peak

PEERS = ("pytensor", "jax", "torch")
IMPLEMENTATIONS = ("theanine", "numpy", *PEERS)


@dataclass(frozen=True)
class Workload:
    """One table: its number, a title (may measure a reference), a measure per implementation."""

    number: int
    title: Callable[[], str]
    measures: dict[str, Callable[[], list[w.Row]]]
    unit: str = "ms"
    reference_gflops: Callable[[], float] | None = None


def _measures(prefix: str) -> dict[str, Callable[[], list[w.Row]]]:
    """``{implementation: cpu_workloads.<prefix>_<implementation>}`` for those that exist."""
    names = {impl: f"{prefix}_{impl}" for impl in IMPLEMENTATIONS}
    return {impl: getattr(w, name) for impl, name in names.items() if hasattr(w, name)}


def _copy_title(text: str, nbytes: int) -> Callable[[], str]:
    return lambda: f"{text} (plain copy: {w.copy_bandwidth(nbytes):.1f} GB/s)"


MATRIX_BYTES = 4 * w.MATRIX_SIDE**2
WORKLOADS = (
    Workload(
        1,
        _copy_title(
            f"1. exp(-x*x)*sin(3x)+0.5*tanh(x), {w.ELEMENTWISE_SIZE:,} float32",
            4 * w.ELEMENTWISE_SIZE,
        ),
        _measures("elementwise"),
    ),
    Workload(
        2,
        _copy_title(f"2. row softmax, {w.MATRIX_SIDE}x{w.MATRIX_SIDE} float32", MATRIX_BYTES),
        _measures("softmax"),
    ),
    Workload(
        2,
        _copy_title(f"2. sum(x**2, axis=1), {w.MATRIX_SIDE}x{w.MATRIX_SIDE} float32", MATRIX_BYTES),
        _measures("sum_squares"),
    ),
    Workload(
        3,
        lambda: f"3. MLP 784-512-512-10 SGD step, batch {w.BATCH}, float32",
        _measures("mlp"),
        reference_gflops=w.numpy_matmul_gflops,
    ),
    Workload(
        4,
        lambda: "4. call overhead of x + y, two 10-element float32 vectors",
        _measures("overhead"),
        unit="us",
    ),
    Workload(
        5,
        lambda: "5. compile time of the MLP step, fresh processes",
        _measures("compile"),
        unit="s",
    ),
)


@dataclass
class Table:
    """The rows of one workload, rendered with ratios to theanine's row."""

    title: str
    unit: str
    rows: list[w.Row] = field(default_factory=list)
    reference_gflops: float | None = None

    def render(self) -> str:
        columns = f"{f'time ({self.unit})':>12}{'vs theanine':>13}{'GB/s':>8}{'GFLOP/s':>9}"
        header = f"  {'implementation':<34}{columns}  note"
        return "\n".join([self.title, header, *(self._line(row) for row in self.rows)])

    def _line(self, row: w.Row) -> str:
        scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[self.unit]
        theanine = next(
            (r.seconds for r in self.rows if r.impl.startswith("theanine") and r.seconds), None
        )
        time_text = f"{row.seconds * scale:12.3f}" if row.seconds is not None else f"{'-':>12}"
        ratio = f"{row.seconds / theanine:12.2f}x" if theanine and row.seconds else f"{'-':>13}"
        gbps = f"{row.gbps:8.1f}" if row.gbps is not None else " " * 8
        gflops = f"{row.gflops:9.1f}" if row.gflops is not None else " " * 9
        note = row.note
        if row.gflops is not None and self.reference_gflops:
            note = (
                f"{100 * row.gflops / self.reference_gflops:.0f}% of numpy matmul's GFLOP/s {note}"
            )
        return f"  {row.impl:<34}{time_text}{ratio}{gbps}{gflops}  {note}".rstrip()


def peer_environment() -> dict[str, str]:
    """PyTensor on its C backend (see the module docstring)."""
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    return {"PYTENSOR_FLAGS": f"{flags},linker=cvm" if flags else "linker=cvm"}


def measure_in_fresh_process(index: int, impl: str) -> list[w.Row]:
    """Run one implementation of WORKLOADS[index] in a new interpreter; its rows."""
    command = [sys.executable, __file__, "--measure", str(index), impl]
    env = {**os.environ, **peer_environment()}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode:
        return [w.Row(impl, None, note=f"failed: {failure_line(result)[:110]}")]
    return [
        w.Row(**json.loads(line))
        for line in result.stdout.strip().splitlines()
        if line.startswith("{")
    ]


def failure_line(result: subprocess.CompletedProcess) -> str:
    """The exception line of a failed child's traceback (else its last line, else its status)."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return (errors or lines or [f"exit status {result.returncode}"])[-1]


def available(impl: str, peers: bool) -> bool:
    if impl not in PEERS:
        return True
    return peers and importlib.util.find_spec(impl) is not None


def run_table(index: int, peers: bool, runs: int = 1) -> Table:
    workload = WORKLOADS[index]
    reference = workload.reference_gflops() if workload.reference_gflops else None
    title = workload.title()
    if reference:
        title += (f" (numpy matmul on the same sizes: {reference:.1f} GFLOP/s; the cores' float32 FMA peak:"
                  f" {fma_peak(2):.0f})")
    table = Table(title, workload.unit, reference_gflops=reference)
    for impl in workload.measures:
        if available(impl, peers):
            table.rows += median_rows([measure_in_fresh_process(index, impl) for _ in range(runs)])
    return table


def median_rows(runs: list[list[w.Row]]) -> list[w.Row]:
    """Per row label, the row of the median run (with the runs' minimum in its note); one run as it is."""
    if len(runs) == 1:
        return runs[0]
    labels = list(dict.fromkeys(row.impl for rows in runs for row in rows))
    merged = []
    for label in labels:
        timed = sorted((r for rows in runs for r in rows if r.impl == label and r.seconds is not None),
                       key=lambda r: r.seconds)
        if not timed:
            merged.append(next(r for rows in runs for r in rows if r.impl == label))
            continue
        middle = timed[len(timed) // 2]
        note = f"median of {len(timed)} runs (min {timed[0].seconds:.4g} s); {middle.note}"
        merged.append(w.Row(label, middle.seconds, middle.gbps, middle.gflops, note.rstrip("; ")))
    return merged


def header(peers: bool) -> str:
    import llvmlite

    versions = [f"numpy {np.__version__}", f"llvmlite {llvmlite.__version__}"]
    versions += [f"{p} {importlib.metadata.version(p)}" for p in PEERS if available(p, peers)]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    machine = f"{os.cpu_count()} CPUs, load average {load}"
    return f"theanine CPU benchmark | {machine} | {', '.join(versions)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", type=int, help="numbers 1 to 5 (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="measure theanine and NumPy only")
    parser.add_argument("--runs", type=int, default=1,
                        help="fresh processes per implementation; rows show the median run (for a busy machine)")
    parser.add_argument("--measure", nargs=2, metavar=("INDEX", "IMPL"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    unknown = sorted(set(arguments.workloads) - {workload.number for workload in WORKLOADS})
    if unknown:
        parser.error(f"workloads are numbered 1 to 5. Received: {unknown}")
    if arguments.measure:
        index, impl = arguments.measure
        for row in WORKLOADS[int(index)].measures[impl]():
            print(row.to_json(), flush=True)
        return
    peers = not arguments.no_peers
    print(header(peers) + "\n", flush=True)
    for index, workload in enumerate(WORKLOADS):
        if not arguments.workloads or workload.number in arguments.workloads:
            print(run_table(index, peers, arguments.runs).render() + "\n", flush=True)


if __name__ == "__main__":
    main()

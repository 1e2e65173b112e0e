"""The native library of ``th.aot.compile`` next to the in-Python call of the same function.

    python tests/benchmarks/bench_aot.py            # the digits MLP predict function
    python tests/benchmarks/bench_aot.py --quick    # fewer batch sizes
    python tests/benchmarks/bench_aot.py --threads 1

Trains the README's digits MLP for one epoch (the weights do not change the
speed), compiles its predict function (``model(images, training=False)``)
with ``th.aot.compile`` twice, with theanine's own GEMM (the default: no
dependency) and with SciPy's OpenBLAS copied beside it, and prints for
several batch sizes the time per call: the theanine function called from
Python (its native fast path; best of repeats) and ``digits_run`` called
from a C program (tests/benchmarks/aot_bench.c, best of rounds), both on
``config.num_threads`` threads.  Also prints the libraries' sizes and
``ldd`` output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import timeit

import numpy as np

import theanine as th
from theanine.__main__ import build_digits_model
from theanine.frontend import datasets
from theanine.runtime.threads import thread_count

BENCH_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aot_bench.c")


def _python_time(function, x: np.ndarray) -> float:
    function(x)
    timer = timeit.Timer(lambda: function(x))
    number, _ = timer.autorange()
    return min(timer.repeat(5, number)) / number


def _c_time(library, x: np.ndarray, threads: int, folder: str) -> float:
    program = os.path.join(folder, f"bench_{library.name}")
    if not os.path.exists(program):
        lib_folder = os.path.dirname(library.shared_object)
        subprocess.run(["gcc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", f"-DLIB={library.name}",
                        f"-DLIB_UPPER={library.name.upper()}", "-include", library.header, BENCH_C, "-o", program,
                        f"-L{lib_folder}", f"-l:{library.name}.so", f"-Wl,-rpath,{lib_folder}"], check=True)
    data = os.path.join(folder, "input.bin")
    np.ascontiguousarray(x).tofile(data)
    done = subprocess.run([program, str(threads), data, ",".join(map(str, x.shape))], capture_output=True,
                          text=True, check=True)
    return float(done.stdout) * 1e-6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="threads of both calls (default: config)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        th.config.num_threads = args.threads
    th.set_seed(0)
    (x_train, y_train), (x_test, _) = datasets.digits.load_data()
    model = build_digits_model(x_train)
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    images = th.matrix("images", dtype="float32")
    predict = th.function([images], model(images, training=False))
    threads = thread_count(th.config.num_threads)
    with tempfile.TemporaryDirectory() as folder:
        libraries = {blas: th.aot.compile(predict, os.path.join(folder, blas, "digits"), blas_library=blas)
                     for blas in ("own", "openblas")}
        for blas, library in libraries.items():
            size = os.path.getsize(library.shared_object)
            extra = sum(os.path.getsize(p) for p in library.dependencies)
            print(f"library ({blas} GEMM): digits.so {size / 1024:.1f} KiB"
                  + (f" + {extra / 2**20:.1f} MiB of OpenBLAS and its Fortran runtime beside it" if extra else ""))
            print("  ldd: " + "\n       ".join(line.strip() for line in subprocess.run(
                ["ldd", library.shared_object], capture_output=True, text=True, check=True).stdout.splitlines()))
        print(f"\ntime per call, {threads} thread(s); Python: the theanine function's call; C: digits_run")
        print(f"{'batch':>6} {'Python':>10} {'C, own GEMM':>12} {'C, OpenBLAS':>12}")
        batches = (1, 32, 359) if args.quick else (1, 32, 359, 4096)
        rng = np.random.default_rng(0)
        for batch in batches:
            rows = x_test if batch == len(x_test) else x_test[rng.integers(0, len(x_test), batch)]
            x = np.ascontiguousarray(rows, dtype="float32")
            seconds = [_python_time(predict, x)]
            seconds += [_c_time(library, x, threads, os.path.dirname(library.shared_object))
                        for library in libraries.values()]
            cells = [f"{s * 1e6:.1f}us".rjust(w) for s, w in zip(seconds, (10, 12, 12), strict=True)]
            print(f"{batch:>6} " + " ".join(cells))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The host's float32 multiply-add peak, measured, so that benchmarks can say how close a figure is to it.

A GFLOP/s figure means little across machines of "this kind": an AVX2-only
core, an AVX-512 core that runs 512-bit operations in two halves (AMD Zen 4)
and one with two 512-bit FMA units differ by up to 4x.  ``fma_peak`` JITs a
loop of independent ``llvm.fma`` chains on the widest vector the host has
(enough chains to cover the FMA latency on every port) and times it on one
thread and on ``threads`` threads at once, so that a benchmark can print its
products' rate as a share of what the cores can do at all.

    python tests/benchmarks/machine_peak.py      # prints the peak, 1 and 2 threads
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

import llvmlite.binding as llvm
from llvmlite import ir

from theanine.runtime.llvm.jit import NativeModule, emit_without_passes, host_float_lanes

CHAINS = 16
"""Independent accumulators: latency 4 to 5 cycles times 2 to 3 FMA ports, with room to spare."""

ITERATIONS = 20_000_000


@functools.cache
def _kernel():
    """``float peak(i64 iterations)``: CHAINS chains of ``acc = fma(acc, a, b)`` on <lanes x float>."""
    lanes = host_float_lanes()
    vector = ir.VectorType(ir.FloatType(), lanes)
    module = ir.Module("machine_peak")
    module.triple = llvm.get_process_triple()
    function = ir.Function(module, ir.FunctionType(ir.FloatType(), [ir.IntType(64)]), "peak")
    entry, loop, done = (function.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    a = ir.Constant(vector, [1.0000001] * lanes)
    c = ir.Constant(vector, [1e-7] * lanes)
    b.branch(loop)
    b.position_at_end(loop)
    counter = b.phi(ir.IntType(64))
    accumulators = [b.phi(vector) for _ in range(CHAINS)]
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{lanes}f32")
    updated = [b.call(fma, [acc, a, c]) for acc in accumulators]
    following = b.add(counter, ir.Constant(ir.IntType(64), 1))
    b.cbranch(b.icmp_signed("<", following, function.args[0]), loop, done)
    counter.add_incoming(ir.Constant(ir.IntType(64), 0), entry)
    counter.add_incoming(following, loop)
    for k, (acc, new) in enumerate(zip(accumulators, updated, strict=True)):
        acc.add_incoming(ir.Constant(vector, [float(k)] * lanes), entry)
        acc.add_incoming(new, loop)
    b.position_at_end(done)
    total = updated[0]
    for new in updated[1:]:
        total = b.fadd(total, new)
    b.ret(b.extract_element(total, ir.Constant(ir.IntType(32), 0)))
    native = NativeModule(emit_without_passes(str(module)))  # the loop is written as it should run
    return native, ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(native.function_address("peak")), lanes


def fma_peak(threads: int = 1, iterations: int = ITERATIONS) -> float:
    """float32 GFLOP/s of ``threads`` threads each running the FMA loop (best of three)."""
    _, peak, lanes = _kernel()
    flops = 2 * lanes * CHAINS * iterations * threads
    best = float("inf")
    for _ in range(3):
        workers = [threading.Thread(target=peak, args=(iterations,)) for _ in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


if __name__ == "__main__":
    print(f"float32 FMA peak, {host_float_lanes()} lanes: 1 thread {fma_peak(1):.1f} GFLOP/s, "
          f"2 threads {fma_peak(2):.1f} GFLOP/s")

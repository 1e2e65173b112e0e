"""Contiguous elementwise loops whose math has a fast kernel valid on part of the domain.

A fast kernel (``llvm_math.emit_guarded``, e.g. float32 sine with a short
argument reduction) also says, per element, whether its value must not be
used.  Branching per element would stop LLVM from vectorizing the loop, so
the loop runs over blocks: every element of a block is computed with the
fast kernels into stack scratch while the "outside" flags are or-reduced;
a block with any flag set is recomputed with the exact kernels; then the
block is copied to the outputs.  Scratch keeps the inputs intact for that
recomputation even when an output shares an input's memory.
"""

from __future__ import annotations

from llvmlite import ir

from theanine.codegen.llvm.ir_types import I1, I8, I64, memory_type
from theanine.codegen.llvm.loops import for_range, minimum

BLOCK = 512


def emit_guarded_loop(frame, element, inputs: list, outputs: list, out_dtypes: list[str], start, stop) -> None:
    """Elements ``[start, stop)`` of contiguous ``inputs``/``outputs`` (base pointers) in guarded blocks.

    ``element`` is the kernel's element emitter; ``emit(..., guards=list)``
    appends one ``i1`` per fast kernel it used.
    """
    b = frame.builder
    scratch = [frame.alloca(ir.ArrayType(memory_type(d), BLOCK)) for d in out_dtypes]
    scratch = [b.gep(s, [ir.Constant(I64, 0), ir.Constant(I64, 0)]) for s in scratch]
    outside = frame.alloca(I8)
    size = ir.Constant(I64, BLOCK)
    blocks = b.sdiv(b.add(b.sub(stop, start), ir.Constant(I64, BLOCK - 1)), size)
    with for_range(b, blocks, "block") as k:
        first = b.add(start, b.mul(k, size))
        count = minimum(b, size, b.sub(stop, first))
        b.store(ir.Constant(I8, 0), outside)
        with for_range(b, count, "fast") as i:
            at = b.add(first, i)
            guards: list[ir.Value] = []
            element.emit([(p, at) for p in inputs], [(s, i) for s in scratch], None, guards)
            any_outside = ir.Constant(I1, 0)
            for flag in guards:
                any_outside = b.or_(any_outside, flag)
            b.store(b.or_(b.load(outside), b.zext(any_outside, I8)), outside)
        with b.if_then(b.icmp_unsigned("!=", b.load(outside), ir.Constant(I8, 0)), likely=False):
            with for_range(b, count, "exact", interleaved=False) as i:
                element.emit([(p, b.add(first, i)) for p in inputs], [(s, i) for s in scratch], None)
        with for_range(b, count, "copy", interleaved=False) as i:
            at = b.add(first, i)
            for source, target in zip(scratch, outputs, strict=True):
                b.store(b.load(b.gep(source, [i])), b.gep(target, [at]))

"""GEMM epilogues: the elementwise work after a product runs inside the product's step.

A Dense layer lowers to a copy of the bias into the output, a GEMM that
adds the product to it (``beta`` 1) and a fused elementwise kernel (the
activation, and whatever the backward pass keeps of it); a Conv to a GEMM
and the same kernel.  Each of those passes reads and writes the whole
output from memory.  ``absorb_epilogues`` rewrites the schedule so the
GEMM computes the bare product and carries the rest as its ``epilogue``
(``kernel_ir.GemmCall``), which a printer runs on each block of the
product while it is in cache:

1. a broadcast copy of the addend right before a ``beta != 0`` GEMM becomes
   the epilogue ``out = product + beta * addend``;
2. the first step after a GEMM that touches its output, when it is an
   elementwise kernel over the output's shape that reads every input at
   the same element or as a vector along the last axis (a bias) or a
   scalar, joins the epilogue (composed with the one from 1: the product
   plus bias feeds the activation without a trip through memory).

Run on the whole program after lowering, by printers that emit epilogues
(the LLVM one); a kernel's shape checks move into a check-only step before
the GEMM, so a failure still names the kernel's node.
"""

from __future__ import annotations

import dataclasses

from theanine.codegen.program.expressions import call, cast, substitute
from theanine.codegen.program.fallible import fails_while_writing
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ElementwiseKernel,
    Expr,
    GemmCall,
    HostCall,
    Index,
    Lit,
    Load,
    LoopStep,
    Program,
    Size,
    step_inputs,
    step_writes,
    uses,
)

__all__ = ["absorb_epilogues", "substitute"]


def absorb_epilogues(program: Program) -> tuple[Program, list[tuple[object, object]]]:
    """``program`` with epilogues absorbed into its top-level GEMMs (see the module docstring), and
    the ``(elementwise node, product node)`` pairs absorbed, for ``explain()``."""
    steps = list(program.steps)
    absorbed: list[tuple[object, object]] = []
    host_written = {b for s in steps if isinstance(s, HostCall) for b in s.outputs}
    k = 0
    while k < len(steps):
        step = steps[k]
        if isinstance(step, GemmCall) and _absorbable_product(program, step):
            k += _fold_addend(program, steps, k, host_written, absorbed)
            _absorb_consumer(program, steps, k, host_written, absorbed)
        k += 1
    if not absorbed:
        return program, []
    return dataclasses.replace(program, steps=steps), absorbed


def _absorbable_product(program: Program, gemm: GemmCall) -> bool:
    """One matrix written by BLAS into a buffer the runner allocates (C-contiguous), rows first."""
    output = program.buffers[gemm.output]
    return len(gemm.a.axes) == 2 and output.role == "temp" and len(output.shape) >= 2 and gemm.out_view is None


def _fold_addend(program, steps: list, k: int, host_written: set, absorbed: list) -> int:
    """Pattern 1: steps[k-1] copies the addend into the output of the GEMM at steps[k]; returns the
    change in the GEMM's position (-1 when the copy went and left no check step behind)."""
    gemm = steps[k]
    copy = steps[k - 1] if k > 0 else None
    if gemm.beta == 0.0 or gemm.epilogue is not None or not isinstance(copy, ElementwiseKernel):
        return 0
    shape = program.buffers[gemm.output].shape
    if (copy.outputs != (gemm.output,) or len(copy.inputs) != 1 or copy.reuses or copy.out_views
            or copy.exprs != (Arg(0, copy.exprs[0].dtype),) or tuple(copy.shape) != tuple(shape)
            or not _readable(program, copy.inputs[0], shape, gemm.output, host_written)):
        return 0
    ndim = len(shape)
    addend = cast(Arg(1, copy.exprs[0].dtype), gemm.dtype)
    if gemm.beta != 1.0:
        addend = call("multiply", gemm.dtype, addend, Lit(gemm.beta, gemm.dtype))
    epilogue = ElementwiseKernel((Access(gemm.output, tuple(range(ndim))), copy.inputs[0]), (gemm.output,),
                                 (call("add", gemm.dtype, Arg(0, gemm.dtype), addend),), shape, (), copy.node,
                                 reuses=(gemm.output,))
    steps[k] = dataclasses.replace(gemm, beta=0.0, epilogue=epilogue)
    absorbed.append((copy.node, gemm.node))
    if copy.checks:
        steps[k - 1] = ElementwiseKernel((), (), (), (), copy.checks, copy.node)
        return 0
    del steps[k - 1]
    return -1


def _absorb_consumer(program, steps: list, k: int, host_written: set, absorbed: list) -> None:
    """Pattern 2: the first later step that touches the GEMM's output joins its epilogue when it can
    run there (see ``_consumer_fits``) and nothing between them reads what it writes or writes what
    it reads."""
    gemm = steps[k]
    if gemm.beta != 0.0:
        return
    product = gemm.output
    for j in range(k + 1, len(steps)):
        step = steps[j]
        touched = {a.buffer for a in step_inputs(step)} | set(step_writes(step))
        if product in touched:
            break
    else:
        return
    if not _consumer_fits(program, step, product, host_written):
        return
    reads, writes = {a.buffer for a in step_inputs(step)}, set(step_writes(step))
    for between in steps[k + 1:j]:
        if isinstance(between, (HostCall, LoopStep)):
            return
        between_reads, between_writes = {a.buffer for a in step_inputs(between)}, set(step_writes(between))
        if (between_reads | between_writes) & writes or between_writes & reads:
            return
    consumer = dataclasses.replace(step, checks=())
    epilogue = consumer if gemm.epilogue is None else _compose(gemm.epilogue, consumer, product)
    if gemm.epilogue is not None and product in epilogue.outputs and not _read_later(program, product,
                                                                                      steps[j + 1:]):
        epilogue = _without_output(epilogue, product)
    steps[k] = _product_in_an_output(program, dataclasses.replace(gemm, epilogue=epilogue), steps[j + 1:])
    absorbed.append((step.node, gemm.node))
    if step.checks:
        steps[j] = ElementwiseKernel((), (), (), (), step.checks, step.node)
        steps.insert(k, steps.pop(j))
    else:
        del steps[j]


def _read_later(program, buffer: int, later: list) -> bool:
    return buffer in {a.buffer for a in program.outputs} or any(
        buffer in {a.buffer for a in step_inputs(step)} | set(step_writes(step)) for step in later)


def _without_output(kernel: ElementwiseKernel, buffer: int) -> ElementwiseKernel:
    """``kernel`` no longer writing ``buffer`` (the bias-added product, when only the activation
    after it is read again: the consumer reads its expression, not the buffer)."""
    kept = [(o, e) for o, e in zip(kernel.outputs, kernel.exprs, strict=True) if o != buffer]
    return dataclasses.replace(kernel, outputs=tuple(o for o, _ in kept), exprs=tuple(e for _, e in kept),
                               reuses=tuple(b for b in kernel.reuses if b != buffer))


def _product_in_an_output(program, gemm: GemmCall, later: list) -> GemmCall:
    """``gemm`` writing its product into an output of its epilogue that has the product's dtype and
    shape (the epilogue then overwrites it, element by element, after reading it), when nothing
    after it reads the product: one array fewer to allocate and write back (a Conv's pre-activation
    takes the place of the bare product)."""
    product, epilogue = gemm.output, gemm.epilogue
    if product in epilogue.outputs or _read_later(program, product, later):
        return gemm
    own = program.buffers[product]
    homes = [o for o in epilogue.outputs if o not in epilogue.reuses and program.buffers[o].role == "temp"
             and program.buffers[o].dtype == own.dtype and tuple(program.buffers[o].shape) == tuple(own.shape)]
    if not homes:
        return gemm
    home = homes[0]
    inputs = tuple(dataclasses.replace(a, buffer=home) if a.buffer == product else a for a in epilogue.inputs)
    epilogue = dataclasses.replace(epilogue, inputs=inputs, reuses=(*epilogue.reuses, home))
    return dataclasses.replace(gemm, output=home, epilogue=epilogue)


def _consumer_fits(program, step, product: int, host_written: set) -> bool:
    """An elementwise kernel over the product's shape whose reads are per element or broadcast
    rows, written densely (or in place into such an input), that cannot fail while writing."""
    shape = program.buffers[product].shape
    if not isinstance(step, ElementwiseKernel) or tuple(step.shape) != tuple(shape) or step.out_views:
        return False
    if uses(step.exprs, (Index, Load, Size)) or fails_while_writing(step):
        return False
    if not all(_readable(program, a, shape, product, host_written) for a in step.inputs):
        return False
    identity = tuple(range(len(shape)))
    written = {product, *step.outputs}  # read elsewhere than at the element, a block could see another's writes
    return set(step.reuses) <= {a.buffer for a in step.inputs if a.axes == identity} and all(
        a.axes == identity for a in step.inputs if a.buffer in written)


def _readable(program, access: Access, shape, product: int, host_written: set) -> bool:
    """Read at the same element of a C-contiguous buffer of ``shape`` (the product, or one the runner
    allocated), or broadcast along every axis but the last (a vector along it, or a scalar)."""
    if not access.plain:
        return False
    if all(a is None for a in access.axes[:-1]):
        return True
    buffer = program.buffers[access.buffer]
    contiguous = buffer.contiguous or (buffer.role == "temp" and access.buffer not in host_written)
    return (access.axes == tuple(range(len(shape))) and tuple(buffer.shape) == tuple(shape)
            and (contiguous or access.buffer == product))


def _compose(first: ElementwiseKernel, second: ElementwiseKernel, product: int) -> ElementwiseKernel:
    """One kernel doing ``first`` then ``second``, where ``first`` writes ``product`` in place and
    ``second`` reads it: ``second``'s reads of ``product`` become ``first``'s expression for it."""
    (written,) = [e for o, e in zip(first.outputs, first.exprs, strict=True) if o == product]
    inputs = list(first.inputs)
    mapping: dict[int, int | Expr] = {}
    for position, access in enumerate(second.inputs):
        if access.buffer == product:
            mapping[position] = written
        else:
            mapping[position] = len(inputs)
            inputs.append(access)
    done: dict = {}
    renamed = tuple(substitute(e, mapping, done) for e in second.exprs)
    kept = [(o, e) for o, e in zip(first.outputs, first.exprs, strict=True) if o not in second.outputs]
    outputs = tuple(o for o, _ in kept) + second.outputs
    exprs = tuple(e for _, e in kept) + renamed
    reuses = tuple(dict.fromkeys(first.reuses + second.reuses))
    return ElementwiseKernel(tuple(inputs), outputs, exprs, first.shape, (), second.node, reuses=reuses)

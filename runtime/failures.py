"""Reporting a failed run-time check of a compiled program the way the reference semantics word it.

When a native step fails (a shape mismatch, an index out of bounds), the
node it came from is run through its NumPy ``perform`` on the values it
saw, so the user gets NumPy's own error, annotated with the node.  The
program keeps a reference to every variable a runner can show as a view
of a buffer (``Program.refs``); an input of the node that is a slice the
runner cannot show is recomputed from its nearest referenced ancestors by
running their nodes (a few views at most; a longer walk is given up).  If
the reference accepts the values, the kernel's own shape check is reported.
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.codegen.program.kernel_ir import Access, FusedRows, ReduceKernel, step_inputs
from theanine.graph.basic import Apply, Constant, apply_nodes
from theanine.graph.evaluate import annotate_error, run_node

__all__ = ["allocation_failure", "raise_step_failure"]

MAX_RECOMPUTED_NODES = 32


def raise_step_failure(step, refs: dict, read: Callable[[Access], object]) -> None:
    """Raise the error of ``step``'s node (of the first node of a FusedRows body whose reference
    refuses its values); ``read(access)`` is the array an access shows, or None when its buffer
    does not exist (yet)."""
    for inner in step.body if isinstance(step, FusedRows) else (step,):
        node = inner.checked_node if isinstance(inner, ReduceKernel) else inner.node
        values = _seen_inputs(node, refs, read)
        if values is not None:
            run_node(node, values)
    views = [v for v in (read(a) for a in step_inputs(step)) if v is not None]
    message = f"shape mismatch: input shapes {[v.shape for v in views]} do not match"
    raise annotate_error(ValueError(message), step.node, views)


def allocation_failure(step, error: Exception, shape: tuple, dtype, refs: dict,
                       read: Callable[[Access], object]) -> Exception:
    """The error to raise when the storage of ``step``'s output cannot be made (a negative size
    computed from the inputs: ValueError; more memory than there is: MemoryError), naming the
    step's node, its input shapes and the user's line, as a failed check inside the step does.
    A negative size is first shown to the node's reference, whose own words are better ("n_steps
    must be >= 0"); memory is not, since the reference would try to allocate it too."""
    if not isinstance(error, MemoryError):
        try:
            raise_step_failure(step, refs, read)
        except Exception as reference:  # the reference's own error, or the kernel's
            if getattr(reference, "theanine_node", None) is not None and "shape mismatch" not in str(reference):
                return reference
    views = [v for v in (read(a) for a in step_inputs(step)) if v is not None]
    kind = MemoryError if isinstance(error, MemoryError) else ValueError
    message = f"cannot allocate an output of shape {tuple(shape)} and dtype {dtype} ({error})"
    return annotate_error(kind(message), step.node, views)


def _seen_inputs(node: Apply, refs: dict, read) -> list | None:
    """The values of ``node``'s inputs, or None when some cannot be found or recomputed."""
    known: dict[int, object] = {}
    stop, stack, seen = [], list(node.inputs), set()
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        value = var.data if isinstance(var, Constant) else read(refs[id(var)]) if id(var) in refs else None
        if value is not None:
            known[id(var)] = value
            stop.append(var)
        elif var.owner is None or len(seen) > MAX_RECOMPUTED_NODES:
            return None
        else:
            stack.extend(var.owner.inputs)
    for owner in apply_nodes(node.inputs, stop):
        for var, value in zip(owner.outputs, run_node(owner, [known[id(v)] for v in owner.inputs]), strict=True):
            known[id(var)] = value
    return [known[id(v)] for v in node.inputs]

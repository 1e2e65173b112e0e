"""Loop accumulators become sums after the loop.

A recurrent output that only accumulates, ``acc_t = acc_{t-1} + term_t``
with ``term_t`` not reading the accumulator, and of which only the last
value is kept (``keep_last``), is how backpropagation through time sums
each step's contribution to the gradient of a weight the step reads.
Inside the loop it costs a pass over the whole accumulator per step (for
an LSTM's 128x512 recurrent weight: a small GEMM adding into it and a copy
of the sum, 50 times).  Instead the loop returns ``term_t`` as a mapped
output and the sum is taken once, after the loop:
``acc = init[-1] + sum(terms, axis=0)``.

When ``term_t = A_t @ B_t`` (the gradient of a weight in a product:
``A_t = P_t.T``), the loop returns ``P_t`` (or ``A_t``) and ``B_t`` instead,
a sequence the loop already reads being used as it is, and the sum is one
matrix product with the steps folded into its inner dimension:
``P.reshape(-1, i).T @ B.reshape(-1, j)``.  A sum ``term_t = sum(v_t,
axes)`` (a bias gradient) is one reduction of ``v`` over the steps too.
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.graph.basic import Variable, apply_nodes, clone_graph
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.reduce import Reduce
from theanine.graph.ops.reshape import reshape
from theanine.graph.ops.scan_op import Scan, ScanSpec
from theanine.graph.ops.shape import DimShuffle
from theanine.graph.ops.shape_values import shape_i
from theanine.graph.type import is_float

__all__ = ["push_out_sums"]

Finish = Callable[[list[Variable]], list[Variable]]


def push_out_sums(op: Scan, outer: list[Variable]) -> tuple[Scan, list[Variable], Finish, int]:
    """The loop without its pure accumulators, its outer inputs, and ``finish``: the new node's
    outputs -> a replacement for each output of the old node.  The last item counts the sums moved."""
    spec = op.spec
    sums = {k: term for k in range(spec.n_recurrent) if (term := _accumulated_term(op, k)) is not None}
    if not sums:
        return op, outer, lambda outputs: outputs, 0
    n = outer[0]
    sequences = {id(op.inner_inputs[i]): outer[1 + i][:n] for i in range(spec.n_seqs)} if not spec.until else {}
    mapped: list[Variable] = []  # new mapped outputs of the step

    def per_step(var: Variable) -> int | Variable:
        """A sequence the loop reads, or the position among the new mapped outputs of ``var``."""
        if id(var) in sequences:
            return sequences[id(var)]
        for position, known in enumerate(mapped):
            if known is var:
                return position
        mapped.append(var)
        return len(mapped) - 1

    plans = {k: _plan(term, per_step) for k, term in sums.items()}
    kept = [k for k in range(spec.n_recurrent) if k not in sums]
    inner_inputs = list(op.inner_inputs[:spec.n_seqs])
    inner_inputs += [op.inner_inputs[i] for k in kept for i in spec.inner_taps(k)]
    inner_inputs += [op.inner_inputs[i] for i in spec.inner_carried()]
    inner_inputs += [op.inner_inputs[i] for i in spec.inner_nonseqs()]
    outputs = [op.inner_outputs[k] for k in kept] + [op.inner_outputs[j] for j in spec.mapped_outputs()] + mapped
    outputs += [op.inner_outputs[c] for c in spec.carried_outputs()]
    outputs += [op.inner_outputs[-1]] if spec.until else []
    new_spec = ScanSpec(
        n_seqs=spec.n_seqs, taps=tuple(spec.taps[k] for k in kept), n_mapped=spec.n_mapped + len(mapped),
        n_carried=spec.n_carried, n_nonseqs=spec.n_nonseqs, until=spec.until,
        keep_last=tuple(spec.keep_last[k] for k in kept), truncate_gradient=spec.truncate_gradient,
    )
    new_op = Scan(*clone_graph(inner_inputs, outputs), new_spec, op.name)
    new_outer = [v for p, v in enumerate(outer) if p not in {spec.outer_inits()[k] for k in sums}]

    def finish(new_outputs: list[Variable]) -> list[Variable]:
        recurrent = dict(zip(kept, new_outputs[:len(kept)], strict=True))
        first_new = len(kept) + spec.n_mapped
        rest = new_outputs[len(kept):first_new] + new_outputs[first_new + len(mapped):]
        extra = new_outputs[first_new:first_new + len(mapped)]
        results = []
        for k in range(spec.n_recurrent):
            if k in sums:
                init = outer[spec.outer_inits()[k]]
                total = init[-1] + plans[k](lambda ref: ref if isinstance(ref, Variable) else extra[ref])
                results.append(DimShuffle(("x", *range(total.ndim)))(total))
            else:
                results.append(recurrent[k])
        return results + rest

    return new_op, new_outer, finish, len(sums)


def _accumulated_term(op: Scan, k: int) -> Variable | None:
    """``term`` when recurrent output k is ``acc + term`` of its only tap ``acc``, neither of them read
    anywhere else in the step."""
    spec = op.spec
    if not spec.keep_last[k] or spec.taps[k] != (1,) or not is_float(op.inner_outputs[k].dtype):
        return None
    acc, new = op.inner_inputs[spec.inner_taps(k)[0]], op.inner_outputs[k]
    node = new.owner
    if node is None or not isinstance(node.op, Elemwise) or node.op.scalar_op.name != "add" or len(node.inputs) != 2:
        return None
    if sum(v is acc for v in node.inputs) != 1 or any(v is acc for v in op.inner_outputs):
        return None
    term = node.inputs[1] if node.inputs[0] is acc else node.inputs[0]
    nodes = apply_nodes(op.inner_outputs, stop=op.inner_inputs)
    readers = [n for n in nodes if any(v is acc for v in n.inputs)]
    new_read = any(v is new for n in nodes for v in n.inputs) or sum(v is new for v in op.inner_outputs) != 1
    if readers != [node] or new_read:
        return None
    return term if term.dtype == acc.dtype else None


def _plan(term: Variable, per_step) -> Callable:
    """How to compute ``sum_t term_t`` after the loop from per-step values (``per_step``)."""
    node = term.owner
    if node is not None and isinstance(node.op, MatMul) and all(v.ndim == 2 for v in node.inputs):
        a, b = node.inputs
        transposed = a.owner is not None and a.owner.op == DimShuffle((1, 0))
        left, right = per_step(a.owner.inputs[0] if transposed else a), per_step(b)

        def folded(value_of):
            rows = value_of(left) if transposed else DimShuffle((0, 2, 1))(value_of(left))
            return MatMul()(DimShuffle((1, 0))(_fold_steps(rows)), _fold_steps(value_of(right)))

        return folded
    if node is not None and isinstance(node.op, Reduce) and node.op.kind == "sum" and node.op.dtype is None:
        steps, axes = per_step(node.inputs[0]), (0, *(a + 1 for a in node.op.axes))
        return lambda value_of: Reduce("sum", axes)(value_of(steps))
    steps = per_step(term)
    return lambda value_of: Reduce("sum", (0,))(value_of(steps))


def _fold_steps(steps: Variable) -> Variable:
    """``(n, rows, cols)`` per-step matrices as one ``(n * rows, cols)`` matrix."""
    cols = steps.type.shape[-1]
    return reshape(steps, (-1, cols if cols is not None else shape_i(steps, steps.ndim - 1)))

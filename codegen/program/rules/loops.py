"""Lowering rule of ``Scan``: the whole loop runs inside native code as one ``LoopStep``.

Before the loop:

- a check step fails where ``perform`` raises (a negative ``n_steps``, a
  sequence shorter than it, an initial value with fewer rows than the
  largest lag), so the runtime reruns ``perform`` for its error;
- each recurrent output gets a *history* buffer of ``lag + n`` rows (a ring
  of ``lag + 1`` rows when only its last value is kept) whose first ``lag``
  rows are its initial value; each carried state a copy of its initial
  value.

Iteration ``t`` (the loop's counter buffer holds ``t``; views read it as
a ``ValueOf`` slice start):

- the step's inputs are views: ``s[t]`` of a sequence, row ``lag + t - l``
  of the history for a tap at lag ``l``, the carried buffers, the
  non-sequences' own buffers;
- the step graph lowers with the usual rules (a nested ``Lowerer``), so
  its kernels fuse and its products call BLAS as anywhere else;
- copy kernels store each recurrent value into row ``lag + t`` of its
  history and each mapped value into row ``t`` of its buffer, then the new
  carried states over the old ones (through a temporary when a new state
  is read from a carried buffer, so no store reads what another wrote).

The Scan's outputs are views of those buffers; for a ``while`` loop their
length is the number of iterations run, which the loop writes into a
buffer of its own.  The rule declines (the loop runs as a host call of
``perform``) when the step needs a host call or an MPI collective, or when
the size of a buffer the step makes depends on values computed in the
loop: the loop's buffers are allocated once, before it starts.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ElementwiseKernel,
    LoopStep,
    ShapeExpr,
    ValueOf,
)
from theanine.codegen.program.lowering import Decline, Lowerer, compose, lowering
from theanine.codegen.program.rules.views import shift
from theanine.graph.basic import Apply
from theanine.graph.ops.scan_op import Scan
from theanine.graph.rewriting.inplace import execution_order


def _whole(buffer: int, ndim: int) -> Access:
    return Access(buffer, tuple(range(ndim)))


def _refined(static: Sequence[int | None], shape: Sequence[ShapeExpr]) -> tuple[ShapeExpr, ...]:
    """``shape`` with the dims a type knows statically."""
    return tuple(s if s is not None else d for s, d in zip(static, shape, strict=True))


def _store(source: Access, dtype_in: str, target: int, dtype_out: str, shape: tuple, corner: Sequence[ShapeExpr],
           checks: Sequence, node: Apply) -> ElementwiseKernel:
    """Copy ``source`` (of ``shape``) into ``target`` from ``corner`` on, in place."""
    return ElementwiseKernel((source,), (target,), (cast(Arg(0, dtype_in), dtype_out),), shape, tuple(checks), node,
                             reuses=(target,), out_views=(Access(target, tuple(range(len(shape))), tuple(corner)),))


class _History:
    """The rows of one recurrent output: ``lag`` initial rows, then one per step (or a ring)."""

    def __init__(self, lowerer: Lowerer, node: Apply, k: int, n: ShapeExpr, counter: ValueOf):
        spec = node.op.spec
        self.out = node.outputs[k]
        self.lag = spec.max_lag(k)
        self.ring = spec.keep_last[k]
        self.init = node.inputs[spec.outer_inits()[k]]
        init_shape = lowerer.shape(self.init)
        self.rows = init_shape[0]
        self.state = _refined(self.out.type.shape[1:], init_shape[1:])
        length = self.lag + 1 if self.ring else S.add(n, self.lag)
        self.buffer = lowerer.new_buffer(self.out.dtype, (length, *self.state), "temp", self.out.ndim)
        self.t = counter

    def row(self, steps_back: int, t: ShapeExpr | None = None) -> ShapeExpr:
        """The row holding the value of step ``t - steps_back`` (step -1 is the last initial row)."""
        r = S.add(self.t if t is None else t, self.lag - steps_back)
        if not self.ring:
            return r
        return S.sub(r, S.mul(S.floordiv(r, self.lag + 1), self.lag + 1))

    def view(self, lowerer: Lowerer, row: ShapeExpr) -> Access:
        """One row of the history, without its leading axis."""
        return compose(shift(lowerer, _whole(self.buffer, self.out.ndim), 0, row), range(1, self.out.ndim))

    def initialize(self, lowerer: Lowerer, node: Apply) -> ElementwiseKernel:
        """The copy of the initial value's last ``lag`` rows into the first rows."""
        source = shift(lowerer, lowerer.ref(self.init), 0, S.sub(self.rows, self.lag))
        corner = (0,) * self.out.ndim
        return ElementwiseKernel((source,), (self.buffer,), (cast(Arg(0, self.init.dtype), self.out.dtype),),
                                 (self.lag, *self.state), (), node,
                                 out_views=(Access(self.buffer, tuple(range(self.out.ndim)), corner),))


@lowering(Scan)
def _lower_scan(lowerer: Lowerer, node: Apply) -> bool:
    op, spec = node.op, node.op.spec
    if not lowerer.shape_arithmetic:
        raise Decline("a native loop reads its counter as a run-time slice start")
    n = lowerer.scalar_shape(node.inputs[0])
    nodes = execution_order(op.inner_outputs, op.inner_inputs)
    inner = lowerer.nested(nodes, op.inner_outputs)
    counter = lowerer.new_buffer("int64", (), "temp", 0)
    t = ValueOf(counter)
    conditions: list[ShapeExpr] = [S.less(-1, n)]
    before: list = []

    for position, var in zip(spec.outer_sequences(), op.inner_inputs, strict=False):
        seq = node.inputs[position]
        shape = lowerer.shape(seq)
        conditions.append(S.less(S.sub(n, 1), shape[0]))
        inner.bind(var, compose(shift(lowerer, lowerer.ref(seq), 0, t), range(1, seq.ndim)), shape[1:])

    histories = []
    for k, lags in enumerate(spec.taps):
        history = _History(lowerer, node, k, n, t)
        conditions.append(S.less(history.lag - 1, history.rows))
        before.append(history.initialize(lowerer, node))
        for position, lag in zip(spec.inner_taps(k), lags, strict=True):
            inner.bind(op.inner_inputs[position], history.view(lowerer, history.row(lag)), history.state)
        histories.append(history)

    states = []
    for position, var in zip(spec.outer_carried(), (op.inner_inputs[p] for p in spec.inner_carried()), strict=True):
        initial = node.inputs[position]
        shape = lowerer.shape(initial)
        buffer = lowerer.new_buffer(initial.dtype, shape, "temp", initial.ndim)
        before.append(ElementwiseKernel((lowerer.ref(initial),), (buffer,), (Arg(0, initial.dtype),), shape, (), node))
        inner.bind(var, _whole(buffer, initial.ndim), shape)
        states.append(buffer)

    for position, var in zip(spec.outer_nonseqs(), (op.inner_inputs[p] for p in spec.inner_nonseqs()), strict=True):
        value = node.inputs[position]
        inner.bind(var, lowerer.plain_ref(value), lowerer.shape(value))

    try:
        for inner_node in nodes:
            inner.lower_node(inner_node)
        stores, mapped = _stores(inner, node, histories, states, n, t)
        stop = inner.plain_ref(op.inner_outputs[-1]).buffer if spec.until else None
    except ValueError as exc:  # the step reads a variable that is neither an input nor a constant
        raise Decline(str(exc)) from exc
    body = tuple(inner.steps) + tuple(stores)
    ran = lowerer.new_buffer("int64", (), "temp", 0) if spec.until else None
    loop = LoopStep(body, counter, n, tuple(buffer for buffer, _ in mapped), node, stop, ran)
    lowerer.native_body(loop)

    S.check_step(lowerer, node, conditions)
    lowerer.steps.extend(before)
    lowerer.steps.append(loop)
    _bind_outputs(lowerer, node, histories, mapped, states, ran)
    return True


def _stores(inner: Lowerer, node: Apply, histories: list[_History], states: list[int], n: ShapeExpr,
            t: ValueOf) -> tuple[list[ElementwiseKernel], list[tuple[int, tuple]]]:
    """The copies that end an iteration, and each mapped output's (buffer, row shape)."""
    op, spec = node.op, node.op.spec
    stores, mapped = [], []
    for k, history in enumerate(histories):
        value = op.inner_outputs[k]
        shape = inner.shape(value)
        checks = [(a, b) for a, b in zip(shape, history.state, strict=True) if a != b]
        corner = (history.row(0), *(0,) * len(shape))
        stores.append(_store(compose(inner.ref(value), [None, *range(value.ndim)]), value.dtype, history.buffer,
                             history.out.dtype, (1, *shape), corner, checks, node))
    for position in spec.mapped_outputs():
        value, out = op.inner_outputs[position], node.outputs[position]
        shape = _refined(out.type.shape[1:], inner.shape(value))
        buffer = inner.new_buffer(out.dtype, (n, *shape), "temp", out.ndim)
        stores.append(_store(compose(inner.ref(value), [None, *range(value.ndim)]), value.dtype, buffer, out.dtype,
                             (1, *shape), (t, *(0,) * len(shape)), (), node))
        mapped.append((buffer, shape))
    sources = []
    for c, position in enumerate(spec.carried_outputs()):
        value = op.inner_outputs[position]
        source = inner.ref(value)
        if source.buffer in states and source != _whole(states[c], value.ndim):
            inner.copy(value)
            source = inner.ref(value)
        sources.append(source)
    for c, (position, source) in enumerate(zip(spec.carried_outputs(), sources, strict=True)):
        value = op.inner_outputs[position]
        if source != _whole(states[c], value.ndim):
            stores.append(_store(source, value.dtype, states[c], value.dtype, inner.shape(value),
                                 (0,) * value.ndim, (), node))
    return stores, mapped


def _bind_outputs(lowerer: Lowerer, node: Apply, histories: list[_History], mapped: list, states: list[int],
                  ran: int | None) -> None:
    """The Scan's outputs as views of the loop's buffers, as many steps long as the loop ran."""
    spec = node.op.spec
    length = lowerer.scalar_shape(node.inputs[0]) if ran is None else ValueOf(ran)
    for history in histories:
        out = history.out
        whole = _whole(history.buffer, out.ndim)
        if history.ring:
            last = history.row(1, length)
            lowerer.bind(out, shift(lowerer, whole, 0, last), (1, *history.state))
        else:
            lowerer.bind(out, shift(lowerer, whole, 0, history.lag), (length, *history.state))
    for (buffer, shape), position in zip(mapped, spec.mapped_outputs(), strict=True):
        out = node.outputs[position]
        lowerer.bind(out, _whole(buffer, out.ndim), (length, *shape))
    for buffer, position, initial in zip(states, spec.carried_outputs(), spec.outer_carried(), strict=True):
        out = node.outputs[position]
        lowerer.bind(out, _whole(buffer, out.ndim), lowerer.shape(node.inputs[initial]))
    if ran is not None:
        lowerer.bind(node.outputs[-1], Access(ran, ()), ())

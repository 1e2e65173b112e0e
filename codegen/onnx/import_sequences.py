"""ONNX sequences and optionals, resolved at import time: a sequence is a tuple of graph variables.

theanine's graphs hold tensors only, so a sequence whose length is known when
the model is read (its graph input's length given by ``input_shapes``, or
built by SequenceConstruct/Insert/Erase, SplitToSequence with static splits)
is a Python tuple of variables, and every sequence op is tuple arithmetic
with static positions; SequenceMap translates its body once per element.
An optional is its value, or ``EMPTY``; OptionalHasElement is then a
constant.  A Loop that carries a sequence is unrolled (``unrolled_loop``):
its trip count and its condition must then be static.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports


class _Empty:
    """The empty optional (an ONNX ``optional`` with no value)."""

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY = _Empty()


def _sequence(value, what: str) -> tuple:
    if not isinstance(value, tuple):
        raise Unsupported(f"{what} must be a sequence")
    return value


def _position(ctx, var, length: int, default: int, what: str) -> int:
    """A static position in a sequence of ``length`` (negative counts from the end)."""
    if var is None:
        return default
    position = int(np.ravel(ctx.need_static(var, what))[0])
    return position + length if position < 0 else position


@imports("SequenceConstruct")
def _construct(ctx, node, args, attrs):
    return [tuple(args)]


@imports("SequenceEmpty")
def _empty(ctx, node, args, attrs):
    return [()]


@imports("SequenceLength")
def _length(ctx, node, args, attrs):
    return [th.constant(np.asarray(len(_sequence(args[0], "SequenceLength's input")), "int64"))]


@imports("SequenceAt")
def _at(ctx, node, args, attrs):
    seq = _sequence(args[0], "SequenceAt's input")
    position = _position(ctx, args[1], len(seq), 0, "SequenceAt's position")
    if not 0 <= position < len(seq):
        raise Unsupported(f"position {position} is outside a sequence of {len(seq)}")
    return [seq[position]]


@imports("SequenceInsert")
def _insert(ctx, node, args, attrs):
    seq = _sequence(args[0], "SequenceInsert's input")
    position = _position(ctx, (*args, None)[2], len(seq), len(seq), "SequenceInsert's position")
    return [seq[:position] + (args[1],) + seq[position:]]


@imports("SequenceErase")
def _erase(ctx, node, args, attrs):
    seq = _sequence(args[0], "SequenceErase's input")
    position = _position(ctx, (*args, None)[1], len(seq), len(seq) - 1, "SequenceErase's position")
    return [seq[:position] + seq[position + 1:]]


@imports("SplitToSequence")
def _split_to_sequence(ctx, node, args, attrs):
    x, split = (*args, None)[:2]
    axis = attrs.get("axis", 0) % x.ndim
    length = x.type.shape[axis]
    if length is None:
        raise Unsupported("SplitToSequence needs a static size along the axis")
    if split is None:
        parts = [th.take(x, th.constant(np.asarray(i, "int64")), axis=axis) if not attrs.get("keepdims", 1)
                 else _part(x, axis, i, i + 1) for i in range(length)]
        return [tuple(parts)]
    sizes = np.ravel(ctx.need_static(split, "SplitToSequence's split")).astype(int)
    if np.ndim(ctx.static(split)) == 0:
        sizes = [int(sizes[0])] * (length // int(sizes[0])) + ([length % int(sizes[0])] if length % sizes[0] else [])
    ends = np.cumsum(sizes)
    return [tuple(_part(x, axis, int(end - size), int(end)) for size, end in zip(sizes, ends, strict=True))]


def _part(x, axis, start, stop):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


@imports("ConcatFromSequence")
def _concat_from_sequence(ctx, node, args, attrs):
    seq = _sequence(args[0], "ConcatFromSequence's input")
    if not seq:
        raise Unsupported("ConcatFromSequence of an empty sequence")
    if attrs.get("new_axis", 0):
        return [th.stack(list(seq), axis=attrs["axis"] % (seq[0].ndim + 1))]
    return [th.concatenate(list(seq), axis=attrs["axis"] % seq[0].ndim)]


@imports("SequenceMap")
def _sequence_map(ctx, node, args, attrs):
    body = attrs["body"]
    seq = _sequence(args[0], "SequenceMap's input_sequence")
    for extra in args[1:]:
        if isinstance(extra, tuple) and len(extra) != len(seq):
            raise Unsupported("SequenceMap's sequences differ in length")
    names = [i.name for i in body.input]
    results = []
    for i in range(len(seq)):
        values = [a[i] if isinstance(a, tuple) else a for a in args]
        results.append(ctx.run_graph(body, dict(zip(names, values, strict=True))))
    return [tuple(r[k] for r in results) for k in range(len(body.output))]


@imports("Optional")
def _optional(ctx, node, args, attrs):
    return [args[0] if args and args[0] is not None else EMPTY]


@imports("OptionalHasElement")
def _has_element(ctx, node, args, attrs):
    present = bool(args) and args[0] is not None and args[0] is not EMPTY
    return [th.constant(np.asarray(present))]


@imports("OptionalGetElement")
def _get_element(ctx, node, args, attrs):
    if args[0] is EMPTY:
        raise Unsupported("OptionalGetElement of an empty optional")
    return [args[0]]


def either(condition, then_values: list, else_values: list) -> list:
    """``th.ifelse`` of two branches' outputs; sequences element by element (their lengths must agree,
    and an optional must be present in both)."""
    flat_then, flat_else, lengths = [], [], []
    for a, b in zip(then_values, else_values, strict=True):
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
            flat_then.extend(a)
            flat_else.extend(b)
            lengths.append(len(a))
        elif isinstance(a, th.Variable) and isinstance(b, th.Variable):
            if a.ndim != b.ndim:
                raise Unsupported(f"the If branches give an output of rank {a.ndim} ({a.type}) and one of rank "
                                  f"{b.ndim} ({b.type}): its rank would depend on the condition")
            flat_then.append(a)
            flat_else.append(b)
            lengths.append(None)
        else:
            raise Unsupported("the If branches return sequences of different lengths, or an optional that "
                              "only one branch fills (the value's kind would depend on the condition)")
    chosen = iter(th.ifelse(condition, flat_then, flat_else) if flat_then else [])
    return [next(chosen) if n is None else tuple(next(chosen) for _ in range(n)) for n in lengths]


def unrolled_loop(ctx, node, args, attrs) -> list:
    """A Loop translated once per iteration (for loops that carry sequences, which ``th.scan``
    cannot): the trip count, and the condition after each iteration, must be constants."""
    body = attrs["body"]
    trip_count, condition, *state = args
    steps = int(np.ravel(ctx.need_static(trip_count, "the trip count of a Loop carrying a sequence"))[0])
    going = True if condition is None else bool(np.ravel(ctx.need_static(condition, "a Loop's condition"))[0])
    names = [i.name for i in body.input]
    scanned = [[] for _ in range(len(body.output) - 1 - len(state))]
    for i in range(steps):
        if not going:
            break
        values = [th.constant(np.asarray(i, "int64")), th.constant(np.asarray(True)), *state]
        cond, *outs = ctx.run_graph(body, dict(zip(names, values, strict=True)))
        state, per_step = outs[:len(state)], outs[len(state):]
        for collected, value in zip(scanned, per_step, strict=True):
            collected.append(value)
        going = bool(np.ravel(ctx.need_static(cond, "the condition a Loop carrying a sequence computes"))[0])
    if any(not collected for collected in scanned):
        raise Unsupported("a Loop with scan outputs that runs no iteration")
    return [*state, *(th.stack(collected) for collected in scanned)]

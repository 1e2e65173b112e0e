"""Per-op ONNX forms: one rule per op class, registered with ``@exports``.

A rule gets the exporter ``ex`` (its builder ``ex.b``, ``ex.static(var)``
for a value known when exporting, ``ex.body`` for inner graphs), the node
and the ONNX names of its inputs, and returns the names of its outputs.
A rule that cannot express a particular node raises ``Decline`` with the
reason; the exporter turns it into an error naming the op and the line
that built the node.

Layout changes: theanine's convolutions and pooling are channels-last,
ONNX's channels-first, so those rules transpose around the ONNX node
(onnxruntime folds a transpose of an initializer).
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx.builder import onnx_dtype
from theanine.codegen.onnx.elemwise_rules import COMPARISONS, NARROW, carrier, compute_dtype, emit_scalar
from theanine.graph.ops.blas import Gemm, Gemv
from theanine.graph.ops.broadcast import BroadcastTo
from theanine.graph.ops.conv import Conv, ConvTranspose
from theanine.graph.ops.creation import ARange
from theanine.graph.ops.dimshuffle import DimShuffle
from theanine.graph.ops.disconnected import DisconnectedGrad
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.join import Join, Split
from theanine.graph.ops.linalg import MatMul
from theanine.graph.ops.math import Cast
from theanine.graph.ops.nnet import LogSoftmax, Softmax
from theanine.graph.ops.opfromgraph import OpFromGraph
from theanine.graph.ops.pool import MaxPool
from theanine.graph.ops.reduce import ArgReduce, Cumulative, Reduce
from theanine.graph.ops.reshape import Reshape
from theanine.graph.ops.scan_op import Scan
from theanine.graph.ops.shape_values import Shape, ShapeI
from theanine.graph.ops.subtensor import SYMBOLIC, AdvancedSubtensor, Subtensor

RULES: dict[type, object] = {}
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


class Decline(Exception):
    """This node has no ONNX form; the message says why."""


def exports(*op_classes):
    def register(fn):
        for cls in op_classes:
            RULES[cls] = fn
        return fn
    return register


def rule_for(op):
    for cls in type(op).__mro__:
        if cls in RULES:
            return RULES[cls]
    return None


def _axes(b, axes) -> str:
    return b.const(np.asarray(axes, dtype="int64"))


# ------------------------------------------------------------------------------ elementwise


@exports(Elemwise)
def _elemwise(ex, node, ins):
    scalar, b = node.op.scalar_op, ex.b
    out_dtype = node.outputs[0].dtype
    if isinstance(scalar, Cast):
        return [b.one("Cast", ins[0], to=onnx_dtype(scalar.dtype))]
    if scalar.nout != 1:
        raise Decline(f"the elementwise op {scalar} has {scalar.nout} outputs")
    name = scalar.name
    dtypes = [v.dtype for v in node.inputs]
    work = compute_dtype(name, dtypes, out_dtype)
    if name == "where":
        cond = b.cast(ins[0], dtypes[0], "bool")
        out = b.one("Where", cond, b.cast(ins[1], dtypes[1], work), b.cast(ins[2], dtypes[2], work))
        return [b.cast(out, work, out_dtype)]
    if name == "second":
        value = b.cast(ins[1], dtypes[1], out_dtype)
        return [b.one("Expand", value, b.one("Shape", ins[0]))]
    work = carrier(name, work)
    args = [b.cast(a, d, work) for a, d in zip(ins, dtypes, strict=True)]
    out = emit_scalar(b, name, args, work)
    if out is None:
        raise Decline(f"the elementwise op {name} has no ONNX form")
    produced = "bool" if name in COMPARISONS else work
    return [b.cast(out, produced, out_dtype)]


# ------------------------------------------------------------------------------ shapes


@exports(DimShuffle)
def _dimshuffle(ex, node, ins):
    b, pattern, x = ex.b, node.op.pattern, ins[0]
    ndim = node.inputs[0].ndim
    kept = [p for p in pattern if p != "x"]
    dropped = [a for a in range(ndim) if a not in kept]
    if dropped:
        x = b.one("Squeeze", x, _axes(b, dropped))
    rank = {a: i for i, a in enumerate(sorted(kept))}
    perm = [rank[a] for a in kept]
    if perm != sorted(perm):
        x = b.one("Transpose", x, perm=perm)
    new = [i for i, p in enumerate(pattern) if p == "x"]
    if new:
        x = b.one("Unsqueeze", x, _axes(b, new))
    return [x if x is not ins[0] else b.one("Identity", x)]


@exports(Reshape)
def _reshape(ex, node, ins):
    return [ex.b.one("Reshape", ins[0], ins[1], allowzero=1)]  # NumPy: a 0 in the shape is a size


@exports(Shape)
def _shape(ex, node, ins):
    return [ex.b.one("Shape", ins[0])]


@exports(ShapeI)
def _shape_i(ex, node, ins):
    b = ex.b
    return [b.one("Gather", b.one("Shape", ins[0]), b.const(np.asarray(node.op.i, dtype="int64")), axis=0)]


@exports(BroadcastTo)
def _broadcast_to(ex, node, ins):
    return [ex.b.one("Expand", ins[0], ins[1])]


@exports(Join)
def _join(ex, node, ins):
    b, dtype = ex.b, node.outputs[0].dtype
    return [b.one("Concat", *[b.cast(n, v.dtype, dtype) for n, v in zip(ins, node.inputs, strict=True)],
                  axis=node.op.axis)]


@exports(Split)
def _split(ex, node, ins):
    return ex.b.node("Split", [ins[0], ins[1]], node.op.n, axis=node.op.axis)


@exports(ARange)
def _arange(ex, node, ins):
    b, dtype = ex.b, node.outputs[0].dtype
    return [b.one("Range", *[b.cast(i, v.dtype, dtype) for i, v in zip(ins, node.inputs, strict=True)])]


# ------------------------------------------------------------------------------ indexing


def _index_parts(index, ndim):
    """The index entries with the ellipsis expanded, each with the input axis it reads."""
    consuming = sum(1 for e in index if e[0] in ("int", "slice", "array", "mask"))
    entries, axis = [], 0
    for entry in index:
        if entry[0] == "ellipsis":
            for _ in range(ndim - consuming):
                entries.append((("slice", None, None, None), axis))
                axis += 1
        elif entry[0] == "newaxis":
            entries.append((entry, None))
        else:
            entries.append((entry, axis))
            axis += 1
    entries += [(("slice", None, None, None), a) for a in range(axis, ndim)]
    return entries


def _scalar(ex, value, names, dtype="int64"):
    """An index part: a constant, or the next symbolic input (as an int64 1-vector)."""
    b = ex.b
    if value == SYMBOLIC:
        name, var = next(names)
        return b.one("Reshape", b.cast(name, var.dtype, dtype), b.const(np.asarray([1], dtype="int64")))
    return b.const(np.asarray([value], dtype=dtype))


@exports(Subtensor)
def _subtensor(ex, node, ins):
    b, x = ex.b, ins[0]
    names = iter(zip(ins[1:], node.inputs[1:], strict=True))
    parts = _index_parts(node.op.index, node.inputs[0].ndim)
    starts, ends, axes, steps, picks = [], [], [], [], []
    for entry, axis in parts:
        if entry[0] == "slice":
            _, start, stop, step = entry
            if (start, stop, step) == (None, None, None):
                continue
            backwards = step is not None and step != SYMBOLIC and step < 0
            if step == SYMBOLIC and (start is None or stop is None):
                raise Decline("a slice with a symbolic step and an open end")
            # symbolic parts are inputs in start, stop, step order
            starts.append(_scalar(ex, (INT64_MAX if backwards else 0) if start is None else start, names))
            ends.append(_scalar(ex, (INT64_MIN if backwards else INT64_MAX) if stop is None else stop, names))
            steps.append(_scalar(ex, 1 if step is None else step, names))
            axes.append(axis)
        elif entry[0] == "int":
            picks.append((axis, _scalar(ex, entry[1], names)))
    if axes:
        x = b.one("Slice", x, b.one("Concat", *starts, axis=0), b.one("Concat", *ends, axis=0),
                  _axes(b, axes), b.one("Concat", *steps, axis=0))
    for axis, index in sorted(picks, reverse=True):
        x = b.one("Gather", x, b.one("Squeeze", index, _axes(b, [0])), axis=axis)
    new, position = [], 0
    for entry, _ in parts:
        if entry[0] == "newaxis":
            new.append(position)
        if entry[0] != "int":
            position += 1
    if new:
        x = b.one("Unsqueeze", x, _axes(b, new))
    return [x if x is not ins[0] else b.one("Identity", x)]


@exports(AdvancedSubtensor)
def _advanced_subtensor(ex, node, ins):
    parts = _index_parts(node.op.index, node.inputs[0].ndim)
    arrays = [(entry, axis) for entry, axis in parts if entry[0] != "slice" or entry[1:] != (None, None, None)]
    if len(arrays) != 1 or arrays[0][0][0] != "array":
        raise Decline("only one integer index array beside full slices (x[i], x[:, i]) has an ONNX form")
    b = ex.b
    return [b.one("Gather", ins[0], b.cast(ins[1], node.inputs[1].dtype, "int64"), axis=arrays[0][1])]


# ------------------------------------------------------------------------------ reductions and products


@exports(Reduce)
def _reduce(ex, node, ins):
    b, op = ex.b, node.op
    in_dtype, out_dtype = node.inputs[0].dtype, node.outputs[0].dtype
    if not op.axes:
        return [b.cast(ins[0], in_dtype, out_dtype)]
    if op.kind in ("all", "any"):  # any(x) = not all(not x): ReduceMin of nothing is the largest int (True)
        truth = b.cast(ins[0], in_dtype, "bool")
        truth = b.one("Not", truth) if op.kind == "any" else truth
        reduced = b.one("ReduceMin", b.one("Cast", truth, to=onnx_dtype("int32")), _axes(b, op.axes), keepdims=0)
        reduced = b.one("Cast", reduced, to=onnx_dtype("bool"))
        return [b.one("Not", reduced) if op.kind == "any" else reduced]
    onnx_op = {"sum": "ReduceSum", "prod": "ReduceProd", "max": "ReduceMax", "min": "ReduceMin"}[op.kind]
    work = out_dtype if op.kind in ("sum", "prod") else in_dtype
    work = "int32" if work in NARROW else work
    reduced = b.one(onnx_op, b.cast(ins[0], in_dtype, work), _axes(b, op.axes), keepdims=0)
    return [b.cast(reduced, work, out_dtype)]


@exports(ArgReduce)
def _arg_reduce(ex, node, ins):
    b, op, x = ex.b, node.op, ins[0]
    onnx_op = "ArgMax" if op.kind == "argmax" else "ArgMin"
    x = b.cast(x, node.inputs[0].dtype, "int32") if node.inputs[0].dtype in NARROW else x
    if len(op.axes) == 1:
        return [b.one(onnx_op, x, axis=op.axes[0], keepdims=0)]
    if sorted(op.axes) == list(range(node.inputs[0].ndim)):
        flat = b.one("Reshape", x, b.const(np.asarray([-1], dtype="int64")))
        return [b.one(onnx_op, flat, axis=0, keepdims=0)]
    raise Decline("an arg-reduction over some (not all) of several axes")


@exports(Cumulative)
def _cumulative(ex, node, ins):
    op, b = node.op, ex.b
    if op.kind != "sum":
        raise Decline("a cumulative product (ONNX has CumSum only)")
    x = b.cast(ins[0], node.inputs[0].dtype, node.outputs[0].dtype)
    return [b.one("CumSum", x, b.const(np.asarray(op.axis, dtype="int64")), reverse=int(op.reverse))]


@exports(MatMul)
def _matmul(ex, node, ins):
    b, dtype = ex.b, node.outputs[0].dtype
    work = "int32" if dtype in NARROW else dtype
    a, c = (b.cast(n, v.dtype, work) for n, v in zip(ins, node.inputs, strict=True))
    return [b.cast(b.one("MatMul", a, c), work, dtype)]


@exports(Gemm, Gemv)
def _blas(ex, node, ins):
    raise Decline("the BLAS ops of optimized graphs are not exported (export the graph before optimizing)")


@exports(DisconnectedGrad)
def _identity(ex, node, ins):
    return [ex.b.one("Identity", ins[0])]


@exports(Softmax, LogSoftmax)
def _softmax(ex, node, ins):
    return [ex.b.one(type(node.op).__name__, ins[0], axis=node.op.axis)]


# ------------------------------------------------------------------------------ convolution and pooling


def _pads(ex, x, pads_var, rank, fill):
    """``(x, pads attribute)``: static pads go to the attribute; pads known only at run time become
    an explicit ``Pad`` of channels-first ``x`` with ``fill`` (0 for convolutions, the lowest value
    for max pooling) and zero attribute pads."""
    b, pads = ex.b, ex.static(pads_var)
    if pads is not None:
        pads = [int(p) for p in pads]
        return x, pads[0::2] + pads[1::2]
    vector = ex.name_of(pads_var)
    zeros = b.const(np.zeros(2, dtype="int64"))
    begins = b.one("Gather", vector, b.const(np.arange(0, 2 * rank, 2, dtype="int64")), axis=0)
    ends = b.one("Gather", vector, b.const(np.arange(1, 2 * rank, 2, dtype="int64")), axis=0)
    padded = b.one("Pad", x, b.one("Concat", zeros, begins, zeros, ends, axis=0), fill, mode="constant")
    return padded, [0] * (2 * rank)


def _to_channels_first(b, x, rank):
    return b.one("Transpose", x, perm=[0, rank + 1, *range(1, rank + 1)])


def _to_channels_last(b, y, rank):
    return b.one("Transpose", y, perm=[0, *range(2, rank + 2), 1])


def _onnx_kernel(b, kernel, rank):
    """Keras' ``(*K, Cin // groups, Cout)`` as ONNX's ``(Cout, Cin // groups, *K)``."""
    return b.one("Transpose", kernel, perm=[rank + 1, rank, *range(rank)])


@exports(Conv)
def _conv(ex, node, ins):
    b, op = ex.b, node.op
    rank = op.rank
    zero = b.const(np.zeros((), dtype=node.inputs[0].dtype))
    x, pads = _pads(ex, _to_channels_first(b, ins[0], rank), node.inputs[2], rank, zero)
    y = b.one("Conv", x, _onnx_kernel(b, ins[1], rank),
              strides=list(op.strides), dilations=list(op.dilation), group=op.groups, pads=pads)
    return [_to_channels_last(b, y, rank)]


@exports(ConvTranspose)
def _conv_transpose(ex, node, ins):
    b, op = ex.b, node.op
    rank = op.rank
    pads = ex.static(node.inputs[3])
    sizes = ex.static(node.inputs[2])
    in_sizes = node.inputs[0].type.shape[1:-1]
    taps = node.inputs[1].type.shape[:rank]
    if pads is None or sizes is None or None in in_sizes or None in taps:
        raise Decline("its output sizes or padding are known only at run time")
    pads = [int(p) for p in pads]
    pads = pads[0::2] + pads[1::2]
    extra = []
    for axis in range(rank):
        span = (taps[axis] - 1) * op.dilation[axis] + 1
        full = op.strides[axis] * (in_sizes[axis] - 1) + span - pads[axis] - pads[axis + rank]
        extra.append(int(sizes[axis]) - full)
    if any(e < 0 for e in extra):
        raise Decline("its output is shorter than ONNX's ConvTranspose allows for these pads")
    y = b.one("ConvTranspose", _to_channels_first(b, ins[0], rank), _onnx_kernel(b, ins[1], rank),
              strides=list(op.strides), dilations=list(op.dilation), group=op.groups, pads=pads,
              output_padding=extra)
    return [_to_channels_last(b, y, rank)]


@exports(MaxPool)
def _max_pool(ex, node, ins):
    b, op = ex.b, node.op
    rank = op.rank
    dtype = node.inputs[0].dtype
    work = dtype if dtype in ("float16", "float32", "float64", "int8", "uint8") else "float64"
    x = b.cast(_to_channels_first(b, ins[0], rank), dtype, work)
    lowest = -np.inf if np.dtype(work).kind == "f" else np.iinfo(work).min
    x, pads = _pads(ex, x, node.inputs[1], rank, b.const(np.asarray(lowest, dtype=work)))
    y = b.node("MaxPool", [x], 1, kernel_shape=list(op.pool_size),
               strides=list(op.strides), dilations=list(op.dilation), pads=pads)[0]
    return [_to_channels_last(b, b.cast(y, work, dtype), rank)]


# ------------------------------------------------------------------------------ inner graphs


@exports(OpFromGraph)
def _op_from_graph(ex, node, ins):
    """Inlined, unless the op is tagged with the ONNX node it stands for (``onnx_node = (op_type, attrs)``,
    e.g. a recurrent layer traced for export): then that one node, its inner graph being its meaning."""
    tagged = getattr(node.op, "onnx_node", None)
    if tagged is not None:
        op_type, attrs = tagged
        return ex.b.node(op_type, ins, len(node.outputs), **attrs)
    return ex.inline(node.op.inner_inputs, node.op.inner_outputs, ins)


@exports(Scan)
def _scan(ex, node, ins):
    return ex.loop(node, ins)

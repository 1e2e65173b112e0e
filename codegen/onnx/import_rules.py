"""ONNX ops as theanine expressions: elementwise, shapes, indexing, reductions, products, normalization.

One rule per ``op_type`` (``@imports``), ``rule(ctx, node, args, attrs)``
returning the output variables.  ONNX meanings that differ from NumPy's are
spelled out where they occur: integer ``Div`` truncates, ``Mod`` with
``fmod=1`` is C's fmod, ``Reshape`` reads a 0 as "copy this dim" unless
``allowzero``, ``Expand`` broadcasts both ways, ``Softmax`` before opset 13
flattens from ``axis`` on, reductions take their axes as an attribute or
(newer opsets) an input.  Convolution and pooling live in
import_windows.py, loops and recurrent ops in import_loops.py.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.formats import tensor_value
from theanine.codegen.onnx.reader import Unsupported, imports

UNARY = {
    "Abs": th.abs, "Neg": th.negative, "Sign": th.sign, "Sqrt": th.sqrt, "Exp": th.exp, "Log": th.log,
    "Sin": th.sin, "Cos": th.cos, "Tan": th.tan, "Asin": th.arcsin, "Acos": th.arccos, "Atan": th.arctan,
    "Sinh": th.sinh, "Cosh": th.cosh, "Tanh": th.tanh, "Asinh": th.arcsinh, "Acosh": th.arccosh,
    "Atanh": th.arctanh, "Sigmoid": th.sigmoid, "Softplus": th.softplus, "Relu": th.relu, "Erf": th.erf,
    "Floor": th.floor, "Ceil": th.ceil, "Round": th.round, "IsNaN": th.isnan, "Not": th.logical_not,
    "BitwiseNot": th.invert,
}
BINARY = {
    "Add": th.add, "Sub": th.subtract, "Mul": th.multiply, "Equal": th.equal, "Less": th.less,
    "LessOrEqual": th.less_equal, "Greater": th.greater, "GreaterOrEqual": th.greater_equal,
    "And": th.logical_and, "Or": th.logical_or, "Xor": th.logical_xor, "BitwiseAnd": th.bitwise_and,
    "BitwiseOr": th.bitwise_or, "BitwiseXor": th.bitwise_xor,
}


def _same(x, like):
    """``x`` cast to ``like``'s dtype (ONNX ops keep their input type; NumPy may promote)."""
    return th.cast(x, like.dtype)


@imports("Identity")
def _identity(ctx, node, args, attrs):
    """Any value, a sequence or optional too (import_sequences.py)."""
    return [args[0]]


@imports(*UNARY)
def _unary(ctx, node, args, attrs):
    return [_same(UNARY[node.op_type](args[0]), args[0]) if node.op_type not in ("IsNaN", "Not") else
            UNARY[node.op_type](args[0])]


@imports(*BINARY)
def _binary(ctx, node, args, attrs):
    out = BINARY[node.op_type](args[0], args[1])
    return [out if out.dtype == "bool" else _same(out, args[0])]


@imports("Reciprocal")
def _reciprocal(ctx, node, args, attrs):
    return [_same(th.reciprocal(args[0]), args[0])]


@imports("IsInf")
def _isinf(ctx, node, args, attrs):
    x = args[0]
    positive, negative = attrs.get("detect_positive", 1), attrs.get("detect_negative", 1)
    found = th.isinf(x)
    if not positive:
        found = th.logical_and(found, th.less(x, 0))
    if not negative:
        found = th.logical_and(found, th.greater(x, 0))
    return [found]


def _trunc(x):
    return th.sign(x) * th.floor(th.abs(x))


@imports("Div")
def _div(ctx, node, args, attrs):
    a, b = args
    if np.dtype(a.dtype).kind in "iu":  # C division: toward zero
        q = th.floor_divide(a, b)
        inexact = th.logical_and(th.not_equal(q * b, a), th.less(th.sign(a) * th.sign(b), 0))
        return [_same(th.where(inexact, q + 1, q), a)]
    return [_same(th.true_divide(a, b), a)]


@imports("Mod")
def _mod(ctx, node, args, attrs):
    a, b = args
    if attrs.get("fmod", 0):
        if np.dtype(a.dtype).kind in "iu":
            return [_same(th.sign(a) * th.mod(th.abs(a), th.abs(b)), a)]
        return [_same(a - b * _trunc(a / b), a)]
    return [_same(th.mod(a, b), a)]


@imports("Pow")
def _pow(ctx, node, args, attrs):
    return [_same(th.power(args[0], args[1]), args[0])]


@imports("Max", "Min", "Sum", "Mean")
def _variadic(ctx, node, args, attrs):
    combine = {"Max": th.maximum, "Min": th.minimum, "Sum": th.add, "Mean": th.add}[node.op_type]
    out = args[0]
    for arg in args[1:]:
        out = combine(out, arg)
    if node.op_type == "Mean":
        out = out / len(args)
    return [_same(out, args[0])]


@imports("Where")
def _where(ctx, node, args, attrs):
    return [th.where(*args)]


@imports("Clip")
def _clip(ctx, node, args, attrs):
    x = args[0]
    low = args[1] if len(args) > 1 and args[1] is not None else attrs.get("min")
    high = args[2] if len(args) > 2 and args[2] is not None else attrs.get("max")
    if low is not None:
        x = _same(th.maximum(x, low), args[0])
    if high is not None:
        x = _same(th.minimum(x, high), args[0])
    return [x]


@imports("Constant")
def _constant(ctx, node, args, attrs):
    if "value" in attrs:
        value, code = tensor_value(attrs["value"])
        out = th.constant(value)
        if code is not None:
            ctx.formats[out] = code
        return [out]
    for key, dtype in (("value_float", "float32"), ("value_floats", "float32"), ("value_int", "int64"),
                       ("value_ints", "int64")):
        if key in attrs:
            return [th.constant(np.asarray(attrs[key], dtype=dtype))]
    raise Unsupported(f"a Constant given as {sorted(attrs)}")


# ------------------------------------------------------------------------------ activations


def _c(value, like):
    return th.constant(np.asarray(value, dtype=like.dtype))


ACTIVATIONS = {
    "LeakyRelu": lambda x, a: th.where(th.less(x, 0), x * _c(a.get("alpha", 0.01), x), x),
    "Elu": lambda x, a: th.where(th.less(x, 0), _c(a.get("alpha", 1.0), x) * th.expm1(x), x),
    "Selu": lambda x, a: _c(a.get("gamma", 1.0507009873554804934193349852946), x) * th.where(
        th.less_equal(x, 0), _c(a.get("alpha", 1.6732632423543772848170429916717), x) * th.expm1(x), x),
    "Celu": lambda x, a: th.maximum(x, 0) + th.minimum(
        _c(0, x), _c(a.get("alpha", 1.0), x) * th.expm1(x / _c(a.get("alpha", 1.0), x))),
    "HardSigmoid": lambda x, a: th.clip(_c(a.get("alpha", 0.2), x) * x + _c(a.get("beta", 0.5), x), _c(0, x),
                                        _c(1, x)),
    "HardSwish": lambda x, a: x * th.clip(x / _c(6, x) + _c(0.5, x), _c(0, x), _c(1, x)),
    "ThresholdedRelu": lambda x, a: th.where(th.greater(x, _c(a.get("alpha", 1.0), x)), x, _c(0, x)),
    "Softsign": lambda x, a: x / (_c(1, x) + th.abs(x)),
    "Mish": lambda x, a: x * th.tanh(th.softplus(x)),
    "Gelu": lambda x, a: (_c(0.5, x) * x * (_c(1, x) + th.tanh(_c(math.sqrt(2 / math.pi), x) * (
        x + _c(0.044715, x) * x * x * x)))) if a.get("approximate", "none") == "tanh" else
        _c(0.5, x) * x * (_c(1, x) + th.erf(x / _c(math.sqrt(2), x))),
}


@imports(*ACTIVATIONS)
def _activation(ctx, node, args, attrs):
    return [_same(ACTIVATIONS[node.op_type](args[0], attrs), args[0])]


@imports("PRelu")
def _prelu(ctx, node, args, attrs):
    x, slope = args
    return [_same(th.where(th.less(x, 0), x * slope, x), x)]


def _flattened_axis_op(fn, x, axis):
    """Softmax before opset 13: over the flattened trailing block from ``axis`` on."""
    axis = axis % max(x.ndim, 1)
    if axis == x.ndim - 1:
        return fn(x, axis=-1)
    dims = [x.shape[i] for i in range(x.ndim)]
    lead = 1
    for d in dims[:axis]:
        lead = lead * d
    return th.reshape(fn(th.reshape(x, (lead, -1)), axis=-1), th.shape(x))


@imports("Softmax", "LogSoftmax")
def _softmax(ctx, node, args, attrs):
    fn = th.softmax if node.op_type == "Softmax" else th.log_softmax
    if ctx.opset < 13:
        return [_flattened_axis_op(fn, args[0], attrs.get("axis", 1))]
    return [fn(args[0], axis=attrs.get("axis", -1))]


@imports("Hardmax")
def _hardmax(ctx, node, args, attrs):
    x = args[0]
    if ctx.opset < 13:
        raise Unsupported("Hardmax before opset 13 (flattened axes)")
    axis = attrs.get("axis", -1) % x.ndim
    index = th.argmax(x, axis=axis, keepdims=True)
    positions = th.arange(x.shape[axis], dtype="int64")
    shape = [1] * x.ndim
    shape[axis] = -1
    return [th.cast(th.equal(th.reshape(positions, shape), index), x.dtype)]


# ------------------------------------------------------------------------------ shapes


def _ints(ctx, var, what):
    return [int(v) for v in np.ravel(ctx.need_static(var, what))]


def _axes_of(ctx, args, attrs, position=1):
    """Axes from an attribute (older opsets) or an optional input; None when neither is given."""
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(args) > position and args[position] is not None:
        return _ints(ctx, args[position], "axes")
    return None


@imports("Reshape")
def _reshape(ctx, node, args, attrs):
    x, shape = args[0], args[1] if len(args) > 1 else None
    if shape is None:
        shape = th.constant(np.asarray(attrs["shape"], dtype="int64"))
    static = ctx.static(shape)
    if static is not None:
        target = [int(v) for v in static]
        if not attrs.get("allowzero", 0):
            target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
        return [th.reshape(x, target)]
    if shape.type.shape[0] is None:
        raise Unsupported("a shape vector of unknown length")
    if attrs.get("allowzero", 0):
        return [th.reshape(x, shape)]
    entries = [th.where(th.equal(shape[i], 0), x.shape[i], shape[i]) if i < x.ndim else shape[i]
               for i in range(shape.type.shape[0])]
    return [th.reshape(x, entries)]


@imports("Transpose")
def _transpose(ctx, node, args, attrs):
    return [th.transpose(args[0], attrs.get("perm"))]


@imports("Squeeze")
def _squeeze(ctx, node, args, attrs):
    axes = _axes_of(ctx, args, attrs)
    return [th.squeeze(args[0], None if axes is None else tuple(axes))]


@imports("Unsqueeze")
def _unsqueeze(ctx, node, args, attrs):
    axes = _axes_of(ctx, args, attrs)
    return [th.expand_dims(args[0], tuple(axes))]


@imports("Flatten")
def _flatten(ctx, node, args, attrs):
    x = args[0]
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    lead, rest = th.constant(np.asarray(1, dtype="int64")), th.constant(np.asarray(1, dtype="int64"))
    for i in range(x.ndim):
        if i < axis:
            lead = lead * x.shape[i]
        else:
            rest = rest * x.shape[i]
    return [th.reshape(x, (lead, rest))]


@imports("Concat")
def _concat(ctx, node, args, attrs):
    return [th.concatenate([a for a in args if a is not None], axis=attrs["axis"])]


@imports("Split")
def _split(ctx, node, args, attrs):
    x, axis = args[0], attrs.get("axis", 0)
    count = len(node.output)
    sizes = attrs.get("split")
    if sizes is None and len(args) > 1 and args[1] is not None:
        sizes = _ints(ctx, args[1], "split")
    if sizes is None:
        length = x.type.shape[axis]
        if length is None:
            raise Unsupported("an even split of an axis of unknown length")
        chunk = -(-length // count)
        sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    starts = np.cumsum([0, *sizes])
    index = [slice(None)] * x.ndim
    outputs = []
    for k in range(len(sizes)):
        index[axis % x.ndim] = slice(int(starts[k]), int(starts[k + 1]))
        outputs.append(x[tuple(index)])
    return outputs


def _bounds(ctx, var):
    """Slice starts/ends: ints when constant, else one int64 scalar per entry (a loop's counter)."""
    static = ctx.static(var)
    if static is not None:
        return [int(v) for v in np.ravel(static)]
    if var.type.shape[0] is None:
        raise Unsupported("starts/ends of unknown length")
    return [th.cast(var[k], "int64") for k in range(var.type.shape[0])]


@imports("Slice")
def _slice(ctx, node, args, attrs):
    x = args[0]
    if ctx.opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = _bounds(ctx, args[1]), _bounds(ctx, args[2])
        axes = _ints(ctx, args[3], "axes") if len(args) > 3 and args[3] is not None else None
        steps = _ints(ctx, args[4], "steps") if len(args) > 4 and args[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis % x.ndim] = slice(start, end, step)
    return [x[tuple(index)]]


@imports("Gather")
def _gather(ctx, node, args, attrs):
    x, indices = args
    axis = attrs.get("axis", 0) % x.ndim
    size = x.shape[axis]
    indices = th.cast(indices, "int64")
    indices = th.where(th.less(indices, 0), indices + size, indices)
    if indices.ndim == 0:
        index = [slice(None)] * x.ndim
        index[axis] = indices
        return [x[tuple(index)]]
    return [th.take(x, indices, axis=axis)]


@imports("GatherElements")
def _gather_elements(ctx, node, args, attrs):
    x, indices = args
    axis = attrs.get("axis", 0) % x.ndim
    indices = th.cast(indices, "int64")
    indices = th.where(th.less(indices, 0), indices + x.shape[axis], indices)
    return [th.take_along_axis(x, indices, axis=axis)]


@imports("Expand")
def _expand(ctx, node, args, attrs):
    x, shape = args
    static = ctx.static(shape)
    if static is not None and None not in x.type.shape:
        return [th.broadcast_to(x, np.broadcast_shapes(x.type.shape, tuple(int(v) for v in static)))]
    length = shape.type.shape[0]
    if None not in x.type.shape and length is not None:
        # a shape known at run time: each 1 in it keeps x's size there (x + zeros(shape) would need
        # the run-time 1s to broadcast, which only static 1s do)
        rank = max(length, x.ndim)
        own = th.constant(np.array((1,) * (rank - x.ndim) + x.type.shape, dtype="int64"))
        given = th.concatenate([th.ones((rank - length,), dtype="int64"), th.cast(shape, "int64")])
        return [th.broadcast_to(x, th.where(th.equal(given, 1), own, given))]
    zeros = th.zeros(shape, dtype="int8")
    if x.dtype == "bool":
        return [th.logical_or(x, th.cast(zeros, "bool"))]
    return [_same(x + th.cast(zeros, x.dtype), x)]


@imports("Shape")
def _shape(ctx, node, args, attrs):
    x = args[0]
    start, end = attrs.get("start", 0), attrs.get("end")
    if None not in x.type.shape:  # a constant, so that the shape arithmetic after it folds
        return [th.constant(np.asarray(x.type.shape, dtype="int64")[start:end])]
    return [th.shape(x)[start:end]]


@imports("Size")
def _size(ctx, node, args, attrs):
    x = args[0]
    if None not in x.type.shape:
        return [th.constant(np.asarray(np.prod(x.type.shape), dtype="int64"))]
    return [th.prod(th.shape(x))]


@imports("Tile")
def _tile(ctx, node, args, attrs):
    return [th.tile(args[0], _ints(ctx, args[1], "repeats"))]


@imports("Range")
def _range(ctx, node, args, attrs):
    start, limit, delta = (th.reshape(a, ()) if a.ndim else a for a in args)  # one-element tensors pass too
    dtype = start.dtype
    if np.dtype(dtype).kind == "f":
        count = th.cast(th.maximum(th.ceil((limit - start) / delta), 0), "int64")
        return [_same(start + th.cast(th.arange(count), dtype) * delta, start)]
    return [th.arange(start, limit, delta, dtype=dtype)]


@imports("ConstantOfShape")
def _constant_of_shape(ctx, node, args, attrs):
    value = tensor_value(attrs["value"])[0].reshape(()) if "value" in attrs else np.float32(0)
    return [th.full(args[0], th.constant(np.asarray(value)))]


def _take_range(x, axis, start, stop, step=1):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop, step)
    return x[tuple(index)]


def _pad_axis(x, axis, low, high, mode):
    """``x`` padded along ``axis`` by copies of its own values (``edge``, ``reflect``, ``wrap``)."""
    if not (low or high):
        return x
    if mode == "edge":
        parts = [th.repeat(_take_range(x, axis, 0, 1), low, axis=axis), x,
                 th.repeat(_take_range(x, axis, -1, None), high, axis=axis)]
    elif mode == "reflect":
        parts = [_take_range(x, axis, low, 0, -1), x, _take_range(x, axis, -2, -high - 2, -1)]
    else:  # wrap
        parts = [_take_range(x, axis, -low, None) if low else None, x, _take_range(x, axis, 0, high)]
    return th.concatenate([p for p, n in zip(parts, (low, 1, high), strict=True) if n and p is not None],
                          axis=axis)


@imports("Pad")
def _pad(ctx, node, args, attrs):
    x = args[0]
    mode = attrs.get("mode", "constant")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise Unsupported(f"Pad mode {mode!r}")
    if ctx.opset < 11:
        pads, value = attrs["pads"], th.constant(np.asarray(attrs.get("value", 0.0), dtype=x.dtype))
        axes = list(range(x.ndim))
    else:
        pads = _ints(ctx, args[1], "pads")
        value = args[2] if len(args) > 2 and args[2] is not None else th.constant(np.zeros((), dtype=x.dtype))
        axes = _ints(ctx, args[3], "axes") if len(args) > 3 and args[3] is not None else list(range(x.ndim))
    if any(p < 0 for p in pads):
        raise Unsupported("negative pads (cropping)")
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(axes):
        widths[axis % x.ndim] = (pads[k], pads[k + len(axes)])
    if mode != "constant":
        for axis, (low, high) in enumerate(widths):
            x = _pad_axis(x, axis, low, high, mode)
        return [x]
    inside = th.pad(th.ones_like(x, dtype="bool"), widths, constant_values=False)
    return [th.where(inside, th.pad(x, widths), th.cast(th.reshape(value, ()), x.dtype))]


@imports("Trilu")
def _trilu(ctx, node, args, attrs):
    k = int(ctx.need_static(args[1], "k")) if len(args) > 1 and args[1] is not None else 0
    return [(th.triu if attrs.get("upper", 1) else th.tril)(args[0], k)]


@imports("Einsum")
def _einsum(ctx, node, args, attrs):
    return [_same(th.einsum(attrs["equation"].replace(" ", ""), *args), args[0])]


@imports("Dropout")
def _dropout(ctx, node, args, attrs):
    """Inference (no training_mode, or a constant False): the identity; else a random mask
    (import_random.py)."""
    from theanine.codegen.onnx.import_random import training_dropout

    x, ratio, training = (*args, None, None)[:3]
    if training is not None and (ctx.static(training) is None or bool(np.ravel(ctx.static(training))[0])):
        return training_dropout(ctx, node, x, ratio, training, attrs)
    return [x, th.ones_like(x, dtype="bool")]


# ------------------------------------------------------------------------------ reductions


REDUCTIONS = {
    "ReduceSum": lambda x, axes: th.sum(x, axis=axes),
    "ReduceMean": lambda x, axes: th.mean(x, axis=axes),
    "ReduceMax": lambda x, axes: th.max(x, axis=axes),
    "ReduceMin": lambda x, axes: th.min(x, axis=axes),
    "ReduceProd": lambda x, axes: th.prod(x, axis=axes),
    "ReduceL1": lambda x, axes: th.sum(th.abs(x), axis=axes),
    "ReduceL2": lambda x, axes: th.sqrt(th.sum(x * x, axis=axes)),
    "ReduceSumSquare": lambda x, axes: th.sum(x * x, axis=axes),
    "ReduceLogSum": lambda x, axes: th.log(th.sum(x, axis=axes)),
    "ReduceLogSumExp": lambda x, axes: _logsumexp(x, axes),
}


EMPTY_SET_VALUES = {
    "ReduceMax": lambda dtype: _extreme(dtype, lowest=True),
    "ReduceMin": lambda dtype: _extreme(dtype, lowest=False),
    "ReduceLogSumExp": lambda dtype: -np.inf,
}
"""What ONNX's reductions without a NumPy identity give over an empty set (NumPy raises instead): the
value is added to the (zero) sum over the same axes, which keeps the output's shape."""


def _extreme(dtype: str, lowest: bool):
    kind = np.dtype(dtype).kind
    if kind == "b":
        return not lowest
    if kind == "f":
        return -np.inf if lowest else np.inf
    return np.iinfo(dtype).min if lowest else np.iinfo(dtype).max


def _logsumexp(x, axes):
    top = th.max(x, axis=axes, keepdims=True)
    top = th.where(th.isinf(top), th.zeros_like(top), top)
    return th.log(th.sum(th.exp(x - top), axis=axes)) + th.squeeze(top, axes)


@imports(*REDUCTIONS)
def _reduction(ctx, node, args, attrs):
    x = args[0]
    axes = _axes_of(ctx, args, attrs)
    if not axes:  # absent or empty: every axis, unless noop_with_empty_axes
        if attrs.get("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.ndim))
    axes = tuple(sorted(a % x.ndim for a in axes))
    if node.op_type in EMPTY_SET_VALUES and any(x.type.shape[a] == 0 for a in axes):
        value = EMPTY_SET_VALUES[node.op_type](x.dtype)
        out = th.sum(x, axis=axes) + th.constant(np.asarray(value, "bool" if x.dtype == "bool" else x.dtype))
    else:
        out = REDUCTIONS[node.op_type](x, axes)
    out = _same(out, x)
    if attrs.get("keepdims", 1):
        out = th.expand_dims(out, axes) if axes else out
    return [out]


@imports("ArgMax", "ArgMin")
def _arg(ctx, node, args, attrs):
    x = args[0]
    axis = attrs.get("axis", 0) % x.ndim
    fn = th.argmax if node.op_type == "ArgMax" else th.argmin
    if attrs.get("select_last_index", 0):
        flipped = th.flip(x, axis=axis)
        out = th.cast(x.shape[axis] - 1, "int64") - fn(flipped, axis=axis)
    else:
        out = fn(x, axis=axis)
    return [th.expand_dims(out, axis) if attrs.get("keepdims", 1) else out]


@imports("CumSum")
def _cumsum(ctx, node, args, attrs):
    x = args[0]
    axis = int(ctx.need_static(args[1], "axis")) % x.ndim
    if attrs.get("reverse", 0):
        x = th.flip(x, axis=axis)
    out = th.cumsum(x, axis=axis)
    if attrs.get("exclusive", 0):
        out = out - x
    if attrs.get("reverse", 0):
        out = th.flip(out, axis=axis)
    return [_same(out, args[0])]


# ------------------------------------------------------------------------------ products and normalization


@imports("MatMul")
def _matmul(ctx, node, args, attrs):
    return [_same(th.matmul(args[0], args[1]), args[0])]


@imports("Gemm")
def _gemm(ctx, node, args, attrs):
    a, b = args[0], args[1]
    a = th.transpose(a) if attrs.get("transA", 0) else a
    b = th.transpose(b) if attrs.get("transB", 0) else b
    out = th.matmul(a, b) * _c(attrs.get("alpha", 1.0), args[0])
    if len(args) > 2 and args[2] is not None:
        out = out + _c(attrs.get("beta", 1.0), args[0]) * args[2]
    return [_same(out, args[0])]


def _per_channel(v, x):
    """A per-channel vector shaped to broadcast along axis 1 of ``x``."""
    return th.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


@imports("BatchNormalization")
def _batch_norm(ctx, node, args, attrs):
    """Inference form, or (``training_mode=1``, opset 14+) normalized by the batch's own statistics
    (population variance), with the running mean and variance updated by ``momentum`` as outputs."""
    x, scale, bias, mean, var = args[:5]
    eps = _c(attrs.get("epsilon", 1e-5), x)
    running = []
    if attrs.get("training_mode", 0):
        axes = (0, *range(2, x.ndim))
        momentum = _c(attrs.get("momentum", 0.9), x)
        batch_mean, batch_var = th.mean(x, axis=axes), th.var(x, axis=axes)
        running = [_same(mean * momentum + batch_mean * (1 - momentum), x),
                   _same(var * momentum + batch_var * (1 - momentum), x)]
        mean, var = batch_mean, batch_var
    y = (x - _per_channel(mean, x)) / th.sqrt(_per_channel(var, x) + eps) * _per_channel(scale, x)
    return [_same(y + _per_channel(bias, x), x), *running][:len(node.output)]


@imports("LayerNormalization")
def _layer_norm(ctx, node, args, attrs):
    x, scale = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    axis = attrs.get("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    work = th.cast(x, "float32") if x.dtype == "float16" else x
    mean = th.mean(work, axis=axes, keepdims=True)
    centered = work - mean
    inv_std = 1 / th.sqrt(th.mean(centered * centered, axis=axes, keepdims=True) + _c(attrs.get("epsilon", 1e-5),
                                                                                      work))
    y = _same(centered * inv_std, x) * scale
    if bias is not None:
        y = y + bias
    return [_same(y, x), mean, inv_std]


@imports("InstanceNormalization")
def _instance_norm(ctx, node, args, attrs):
    x, scale, bias = args
    axes = tuple(range(2, x.ndim))
    mean = th.mean(x, axis=axes, keepdims=True)
    var = th.mean((x - mean) * (x - mean), axis=axes, keepdims=True)
    y = (x - mean) / th.sqrt(var + _c(attrs.get("epsilon", 1e-5), x))
    return [_same(y * _per_channel(scale, x) + _per_channel(bias, x), x)]

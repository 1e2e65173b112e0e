"""Reductions over axes: sum, prod, max, min, all, any, and what builds on them.

Three op classes cover the family:

- ``Reduce(kind, axes, dtype)``: the combining reductions (sum, prod, max,
  min, all, any), one class so rewrites and lowerings see one shape of node;
- ``ArgReduce(kind, axes)``: argmax / argmin (int64 positions);
- ``Cumulative(kind, axis, reverse)``: cumsum / cumprod along one axis.

Everything else (mean, var, std, logsumexp) is built from these and the
elementwise ops, so its gradient and R_op come from theirs.  Every function
follows NumPy: ``axis`` is None, an int or a tuple, negative axes count from
the end, ``keepdims`` keeps reduced axes with size 1, and output dtypes are
NumPy's (sums of ints accumulate in int64/uint64, means of ints are float64,
means of float16 accumulate in float32).  Reducing an empty axis with max,
min, argmax or argmin is an error (ValueError), as in NumPy: at construction
when the axis is statically empty, at run time otherwise.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply
from theanine.graph.op import NonDifferentiableOp, Op
from theanine.graph.ops.dimshuffle import DimShuffle, expand_dims
from theanine.graph.ops.disconnected import disconnected_grad
from theanine.graph.ops.math import cast, exp, isinf, isnan, log, logical_or, maximum, sqrt, where
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete, normalize_dtype

__all__ = [
    "Reduce", "ArgReduce", "Cumulative", "normalize_axes", "sum", "prod", "max", "min", "all",
    "any", "mean", "var", "std", "argmax", "argmin", "logsumexp", "cumsum", "cumprod",
]


def normalize_axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    """``None`` -> all axes; ints -> sorted non-negative tuple; errors name ``what``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not builtins.all(_is_int(a) for a in axes):
        raise TypeError(
            f"{what}: axis must be None, an int or a tuple of ints. Received: axis={axis!r}"
        )
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {a} is out of bounds for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in axis={axes}")
    return tuple(sorted(out))


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_axes_param(axes: Sequence[int], what: str) -> tuple[int, ...]:
    axes = tuple(int(a) for a in axes)
    if list(axes) != sorted(set(axes)) or builtins.any(a < 0 for a in axes):
        raise ValueError(
            f"{what}: axes must be sorted, distinct and non-negative. Received: axes={axes}"
        )
    return axes


def _check_axes_fit(op: Op, axes: tuple[int, ...], x) -> None:
    if axes and axes[-1] >= x.ndim:
        raise ValueError(f"{op}: axes {axes} are out of range for an input of type {x.type}")


def _reject_empty_axes(what: str, axes: tuple[int, ...], x) -> None:
    """NumPy raises for max/min/argmax/argmin over an empty axis; so do we, as early as we can."""
    for a in axes:
        if x.type.shape[a] == 0:
            raise ValueError(
                f"{what}: cannot reduce over axis {a}, which has size 0 (input shape "
                f"{format_shape(x.type.shape)}); an empty set has no {what} (NumPy raises too)"
            )


def _drop_axes(shape: Sequence, axes: tuple[int, ...]) -> tuple:
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class Reduce(Op):
    """Combine elements along ``axes`` with NumPy's reduction ``kind``.

    ``keepdims`` is not a parameter: the output drops the reduced axes and
    ``keepdims=True`` is a DimShuffle on top, so rewrites see one form.
    ``dtype`` (sum and prod only) is NumPy's accumulator/output dtype.
    """

    __props__ = ("kind", "axes", "dtype")
    _impls = {
        "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "all": np.all, "any": np.any,
    }

    def __init__(self, kind: str, axes: Sequence[int], dtype: str | None = None):
        if kind not in self._impls:
            raise ValueError(f"unknown reduction {kind!r}; expected one of {sorted(self._impls)}")
        if dtype is not None and kind not in ("sum", "prod"):
            raise ValueError(
                f"only sum and prod take a dtype. Received: kind={kind!r}, dtype={dtype!r}"
            )
        self.kind = kind
        self.axes = _check_axes_param(axes, f"Reduce {kind}")
        self.dtype = None if dtype is None else normalize_dtype(dtype)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        _check_axes_fit(self, self.axes, x)
        if self.kind in ("max", "min"):
            _reject_empty_axes(self.kind, self.axes, x)
        dtype = self.dtype or self._impls[self.kind](np.zeros((1,), dtype=x.dtype)).dtype.name
        return Apply(self, [x], [TensorType(dtype, _drop_axes(x.type.shape, self.axes))])

    def perform(self, node, inputs):
        (x,) = inputs
        options = {"dtype": self.dtype} if self.dtype else {}
        out = self._impls[self.kind](x, axis=self.axes, **options)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [_drop_axes(input_shapes[0], self.axes)]

    def L_op(self, inputs, outputs, output_grads):
        return ops.reduce_grad.reduce_grad(self, inputs, outputs, output_grads)

    def R_op(self, inputs, eval_points):
        return ops.reduce_grad.reduce_rop(self, inputs, eval_points)


class ArgReduce(NonDifferentiableOp):
    """Position of the first maximum (``kind="argmax"``) or minimum over ``axes``.

    Over several axes the position is the flat C-order index within the
    reduced block, which is NumPy's ``argmax(axis=None)`` when ``axes`` are
    all the axes.  The output is int64 and has no gradient.
    """

    __props__ = ("kind", "axes")
    _impls = {"argmax": np.argmax, "argmin": np.argmin}

    def __init__(self, kind: str, axes: Sequence[int]):
        if kind not in self._impls:
            raise ValueError(
                f"unknown arg-reduction {kind!r}; expected one of {sorted(self._impls)}"
            )
        self.kind = kind
        self.axes = _check_axes_param(axes, kind)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        _check_axes_fit(self, self.axes, x)
        _reject_empty_axes(self.kind, self.axes, x)
        return Apply(self, [x], [TensorType("int64", _drop_axes(x.type.shape, self.axes))])

    def perform(self, node, inputs):
        (x,) = inputs
        kept = [a for a in range(x.ndim) if a not in self.axes]
        block = np.transpose(x, kept + list(self.axes))
        block_size = math.prod(x.shape[a] for a in self.axes)
        block = block.reshape([x.shape[a] for a in kept] + [block_size])
        return [np.asarray(self._impls[self.kind](block, axis=-1), dtype="int64")]

    def infer_shape(self, node, input_shapes):
        return [_drop_axes(input_shapes[0], self.axes)]


class Cumulative(Op):
    """Running sum (``kind="sum"``) or product along ``axis``, as np.cumsum / np.cumprod.

    ``reverse=True`` accumulates from the end of the axis instead (used by
    the gradients: the transpose of a cumsum is a reversed cumsum).
    """

    __props__ = ("kind", "axis", "reverse")
    _impls = {"sum": np.cumsum, "prod": np.cumprod}

    def __init__(self, kind: str, axis: int, reverse: bool = False):
        if kind not in self._impls:
            raise ValueError(
                f"unknown cumulative op {kind!r}; expected one of {sorted(self._impls)}"
            )
        self.kind = kind
        self.axis = int(axis)
        self.reverse = bool(reverse)

    def __str__(self) -> str:
        direction = ", reverse" if self.reverse else ""
        return f"Cum{self.kind}{{axis={self.axis}{direction}}}"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(
                f"{self}: axis {self.axis} is out of range for an input of type {x.type}"
            )
        dtype = self._impls[self.kind](np.zeros((1,), dtype=x.dtype)).dtype.name
        return Apply(self, [x], [TensorType(dtype, x.type.shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        impl = self._impls[self.kind]
        if self.reverse:
            out = np.flip(impl(np.flip(x, self.axis), axis=self.axis), self.axis)
        else:
            out = impl(x, axis=self.axis)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return ops.reduce_grad.cumulative_grad(self, inputs, outputs, output_grads)

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None or is_discrete(inputs[0].dtype):
            return [None]
        if self.kind == "sum":
            return [self(eval_points[0])]
        raise NotImplementedError(f"{self} has no R_op of its own")


def keep_reduced_dims(out, axes: tuple[int, ...]):
    """Re-insert the reduced ``axes`` (sorted, of the input) with size 1."""
    return expand_dims(out, axes) if axes else out


def _reduce(kind: str, x, axis, keepdims: bool, dtype=None):
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, kind)
    out = Reduce(kind, axes, _explicit_dtype(kind, x.dtype, dtype))(x)
    return keep_reduced_dims(out, axes) if keepdims else out


def _explicit_dtype(kind: str, input_dtype: str, dtype) -> str | None:
    """``dtype`` when it differs from the reduction's natural one, else None.

    So ``sum(x, dtype=x's natural sum dtype)`` and ``sum(x)`` are one op.
    """
    if dtype is None:
        return None
    natural = Reduce._impls[kind](np.zeros((1,), dtype=input_dtype)).dtype.name
    return None if normalize_dtype(dtype) == natural else normalize_dtype(dtype)


def sum(x, axis=None, keepdims: bool = False, dtype=None):
    """NumPy's sum: ints accumulate in int64 (uint in uint64), bool counts."""
    return _reduce("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, keepdims: bool = False, dtype=None):
    """NumPy's prod, with sum's dtype rules; its gradient is exact with zeros in ``x``."""
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims: bool = False):
    """NumPy's max. The gradient goes to the first maximal element only (see reduce_grad)."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False):
    """NumPy's min. The gradient goes to the first minimal element only (see reduce_grad)."""
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims: bool = False):
    """True where every element along ``axis`` is nonzero (bool output, no gradient)."""
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims: bool = False):
    """True where some element along ``axis`` is nonzero (bool output, no gradient)."""
    return _reduce("any", x, axis, keepdims)


def _arg_reduce(kind: str, x, axis, keepdims: bool):
    """NumPy's argmax/argmin: ``axis`` is None (flat index) or one int."""
    x = as_tensor_variable(x)
    if axis is not None and not _is_int(axis):
        raise TypeError(f"{kind}: axis must be None or an int. Received: axis={axis!r}")
    axes = normalize_axes(axis, x.ndim, kind)
    out = ArgReduce(kind, axes)(x)
    return keep_reduced_dims(out, axes) if keepdims else out


def argmax(x, axis=None, keepdims: bool = False):
    """Index of the first maximum (int64); ``axis=None`` indexes the flattened tensor."""
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims: bool = False):
    """Index of the first minimum (int64); ``axis=None`` indexes the flattened tensor."""
    return _arg_reduce("argmin", x, axis, keepdims)


def _mean_dtypes(dtype: str) -> tuple[str, str]:
    """(accumulator, result) dtypes of np.mean/np.var: ints -> float64, float16 via float32."""
    if is_discrete(dtype):
        return "float64", "float64"
    if dtype == "float16":
        return "float32", "float16"
    return dtype, dtype


def _reduced_size(x, axes: tuple[int, ...]):
    """How many elements each reduction combines: a Python int when static, else an int64 scalar."""
    static = [x.type.shape[a] for a in axes]
    if builtins.all(d is not None for d in static):
        return math.prod(static)
    size = None
    for a in axes:
        dim = x.type.shape[a] if x.type.shape[a] is not None else x.shape[a]
        size = dim if size is None else size * dim
    return size


def _divide_by_count(total, count, dtype: str):
    """``total / count`` in ``dtype``; a symbolic count is cast first so it cannot promote."""
    if isinstance(count, int):
        return total / count
    return total / cast(count, dtype)


def mean(x, axis=None, keepdims: bool = False):
    """NumPy's mean: ints and bools give float64; float16 accumulates in float32."""
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "mean")
    accumulator, result = _mean_dtypes(x.dtype)
    total = sum(x, axes, keepdims, dtype=accumulator)
    return cast(_divide_by_count(total, _reduced_size(x, axes), accumulator), result)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """NumPy's var: mean squared deviation, divided by ``max(n - ddof, 0)``."""
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "var")
    accumulator, result = _mean_dtypes(x.dtype)
    count = _reduced_size(x, axes)
    centre = _divide_by_count(sum(x, axes, keepdims=True, dtype=accumulator), count, accumulator)
    deviation = x - centre
    squares = sum(deviation * deviation, axes, keepdims, dtype=accumulator)
    dof = builtins.max(count - ddof, 0) if isinstance(count, int) else maximum(count - ddof, 0)
    return cast(_divide_by_count(squares, dof, accumulator), result)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """NumPy's std: the square root of ``var``."""
    return sqrt(var(x, axis, keepdims, ddof))


def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x)))`` computed stably, as scipy.special.logsumexp.

    The maximum is subtracted first (and treated as a constant for
    differentiation: the exact gradient is then softmax).  A non-finite
    maximum is replaced by 0, so all ``-inf`` gives ``-inf`` and ``+inf``
    gives ``+inf``.  Integer inputs give float64.  A statically empty axis
    gives ``-inf``, as scipy; one found empty at run time raises, as max does.
    """
    x = as_tensor_variable(x)
    if is_discrete(x.dtype):
        x = cast(x, "float64")
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    if builtins.any(x.type.shape[a] == 0 for a in axes):
        # log(0) = -inf; written as (empty sum = 0) - inf so that the stabilizing
        # rewrite of log(sum(exp(x))), which calls this function, cannot loop.
        return sum(x, axes, keepdims) - np.inf
    shift = max(x, axes, keepdims=True)
    shift = disconnected_grad(where(logical_or(isinf(shift), isnan(shift)), 0, shift))
    out = log(sum(exp(x - shift), axes, keepdims=True)) + shift
    if keepdims:
        return out
    return DimShuffle([a for a in range(x.ndim) if a not in axes])(out)


def _cumulative(kind: str, x, axis):
    """np.cumsum / np.cumprod: ``axis=None`` runs over the flattened tensor."""
    x = as_tensor_variable(x)
    if axis is None:
        if x.ndim != 1:
            x = ops.reshape.flatten(x, 1)
        axis = 0
    if not _is_int(axis):
        raise TypeError(f"cum{kind}: axis must be None or an int. Received: axis={axis!r}")
    (axis,) = normalize_axes(axis, x.ndim, f"cum{kind}")
    return Cumulative(kind, axis)(x)


def cumsum(x, axis=None):
    """Running sum along ``axis`` (NumPy dtypes: ints accumulate in int64)."""
    return _cumulative("sum", x, axis)


def cumprod(x, axis=None):
    """Running product along ``axis``; its gradient is exact with zeros in ``x``."""
    return _cumulative("prod", x, axis)

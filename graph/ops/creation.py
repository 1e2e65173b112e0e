"""Creation ops: tensors filled with values, ranges, identity matrices, one-hot.

Only ``ARange`` is an op of its own; the rest are built from ``BroadcastTo``
(``full``, ``zeros``, ``ones``, ``alloc``, ``empty``) and elementwise
comparisons (``eye``, ``one_hot``).  A shape is an int, a sequence of ints
and integer scalar variables (``(x.shape[0], 3)``) or an integer vector of
static length (``x.shape``); its entries are known statically where they
can be read from constants and from static sizes.

Default dtypes: ``zeros``, ``ones``, ``eye`` and ``one_hot`` give
``config.floatX`` (as Theano and Keras do; NumPy would give float64);
``full`` takes the fill value's dtype with theanine's Python-number rule
(a float is floatX, an int int64); ``arange`` follows NumPy (int64 for
integers, float64 as soon as a bound is a float).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.config import config
from theanine.graph.op import Op
from theanine.graph.ops.broadcast import broadcast_to
from theanine.graph.ops.dimshuffle import expand_dims
from theanine.graph.ops.math import cast, ceil, equal, maximum, second
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.ops.shape_values import shape_i, sizes_or_shape, static_value
from theanine.graph.tensor import as_tensor_variable, constant
from theanine.graph.type import INT_DTYPES, TensorType, is_discrete, normalize_dtype

__all__ = [
    "ARange", "zeros_like", "ones_like", "full_like", "zeros", "ones", "full", "alloc", "empty", "arange",
    "eye", "one_hot",
]


def full_like(x, fill_value, dtype=None):
    """A tensor of ``x``'s shape filled with ``fill_value``."""
    x = as_tensor_variable(x)
    value = as_tensor_variable(fill_value, dtype=dtype or x.dtype)
    return cast(second(x, value), dtype or x.dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def full(shape, fill_value, dtype=None):
    """``np.full``: ``shape`` holds ints or integer scalars; ``fill_value`` broadcasts to it.

    Without ``dtype`` the fill value keeps its own dtype (a Python float is
    floatX, a Python int int64).  The fill value's gradient is the sum of
    the output gradient.
    """
    if isinstance(fill_value, Variable):
        value = fill_value if dtype is None else cast(fill_value, dtype)
    elif dtype is None:
        value = as_tensor_variable(fill_value)
    else:
        value = constant(fill_value, dtype=normalize_dtype(dtype))
    return broadcast_to(value, shape)


def zeros(shape, dtype=None):
    """``np.zeros``; ``dtype`` defaults to ``config.floatX``."""
    return full(shape, 0, dtype or config.floatX)


def ones(shape, dtype=None):
    """``np.ones``; ``dtype`` defaults to ``config.floatX``."""
    return full(shape, 1, dtype or config.floatX)


def alloc(value, *shape):
    """Theano's ``alloc``: ``value`` broadcast to ``shape``, in the value's dtype.

    The shape is given as sizes (``alloc(0.0, n, 3)``) or as one shape
    (``alloc(0.0, x.shape)``, a sequence or an integer vector).
    """
    return full(sizes_or_shape(shape), value)


def empty(shape, dtype=None):
    """``np.empty``: a tensor whose values are unspecified (dtype: floatX).

    theanine fills it with zeros, which every backend computes alike.
    """
    return zeros(shape, dtype)


class ARange(Op):
    """``np.arange(start, stop, step, dtype=dtype)`` from three scalars.

    The length is static when all three are known when the graph is built.
    For a float output, d out / d start is 1 and d out[i] / d step is i;
    the length, hence the output, is piecewise constant in ``stop``.
    """

    __props__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = normalize_dtype(dtype)

    def make_node(self, start, stop, step) -> Apply:
        bounds = [as_tensor_variable(v) for v in (start, stop, step)]
        for name, bound in zip(("start", "stop", "step"), bounds, strict=True):
            if bound.ndim != 0 or bound.dtype == "bool":
                raise TypeError(f"arange: {name} must be a numeric scalar. Received: {bound.type}")
        return Apply(self, bounds, [TensorType(self.dtype, (self._static_length(bounds),))])

    def _static_length(self, bounds) -> int | None:
        values = [_static_scalar(b) for b in bounds]
        if any(v is None for v in values):
            return None
        if values[2] == 0:
            raise ValueError("arange: step must not be zero")
        return len(np.arange(*values, dtype=self.dtype))

    def perform(self, node, inputs):
        start, stop, step = (np.asarray(v)[()] for v in inputs)
        if step == 0:
            raise ValueError("arange: step must not be zero")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def infer_shape(self, node, input_shapes):
        static = node.outputs[0].type.shape[0]
        if static is not None:
            return [(static,)]
        start, stop, step = (cast(v, "float64") for v in node.inputs)
        return [(cast(maximum(ceil((stop - start) / step), 0), "int64"),)]

    def L_op(self, inputs, outputs, output_grads):
        if is_discrete(self.dtype):
            return [None, None, None]
        (gz,) = output_grads
        positions = arange(shape_i(outputs[0], 0), dtype=gz.dtype)
        grads = [reduce_sum(gz), zeros_like(inputs[1]), reduce_sum(gz * positions)]
        return [None if is_discrete(v.dtype) else g for v, g in zip(inputs, grads, strict=True)]


def _static_scalar(var):
    """The Python number a scalar holds when known statically (a constant or a static size)."""
    if var.dtype in INT_DTYPES:
        value = static_value(var)
        return None if value is None else value[()]
    data = getattr(var, "data", None)
    return None if data is None else data[()]


def arange(start, stop=None, step=1, dtype=None):
    """``np.arange`` with symbolic scalar bounds allowed (``th.arange(x.shape[0])``).

    The dtype follows NumPy: int64 for integer bounds, float64 once a bound
    is a float (also a float32 variable), unless ``dtype`` is given.
    """
    if stop is None:
        start, stop = 0, start
    bounds = [
        _bound(v, name)
        for v, name in zip((start, stop, step), ("start", "stop", "step"), strict=True)
    ]
    if dtype is None:
        dtype = np.result_type("int64", *[b.dtype for b in bounds]).name
    return ARange(dtype)(*bounds)


def _bound(value, name: str):
    """A scalar bound; Python numbers keep full precision (int64 / float64) as in NumPy."""
    if isinstance(value, Variable):
        return value
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise TypeError(
            f"arange: {name} must be a number or a numeric scalar variable. Received: {value!r}"
        )
    return constant(array)


def eye(n, m=None, k=0, dtype=None):
    """``np.eye``: ones on the ``k``-th diagonal of an ``n`` x ``m`` matrix (dtype: floatX).

    ``n``, ``m`` and ``k`` are ints or integer scalar variables.
    """
    rows = arange(_count(n, "n", "eye"))
    cols = rows if m is None else arange(_count(m, "m", "eye"))
    diagonal = equal(expand_dims(rows, 1) + _integer(k, "k", "eye"), expand_dims(cols, 0))
    return cast(diagonal, dtype or config.floatX)


def one_hot(indices, depth, dtype=None):
    """``indices.shape + (depth,)``: 1 where the last axis equals the index (dtype: floatX).

    Indices outside ``[0, depth)`` (negative ones too) give all-zero rows,
    as in Keras and TensorFlow.
    """
    indices = as_tensor_variable(indices)
    if indices.dtype not in INT_DTYPES:
        raise TypeError(f"one_hot: indices must be integers. Received: {indices.type}")
    classes = arange(_count(depth, "depth", "one_hot"))
    return cast(equal(expand_dims(indices, indices.ndim), classes), dtype or config.floatX)


def _integer(value, name: str, what: str):
    """An int or an integer scalar variable, checked."""
    if isinstance(value, Variable):
        if value.ndim != 0 or value.dtype not in INT_DTYPES:
            raise TypeError(
                f"{what}: {name} must be an int or an integer scalar. Received: {value.type}"
            )
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{what}: {name} must be an int or an integer scalar. Received: {name}={value!r}"
        )
    return int(value)


def _count(value, name: str, what: str):
    """A size: an int >= 0 or an integer scalar variable."""
    value = _integer(value, name, what)
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{what}: {name} must be >= 0. Received: {name}={value}")
    return value

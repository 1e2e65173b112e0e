"""NumPy-like operators and methods of symbolic tensors.

This mixin only forwards to the functions of the op modules, so that
``x @ W + b`` and ``x.sum(axis=1)`` mean exactly what ``th.matmul`` and
``th.sum`` mean.  Equality (``==``) keeps Python's identity semantics, so
variables remain usable as dict keys; use ``th.equal`` for the elementwise
comparison, as in Theano.

The op modules come after this one in the load order (they build on
variables), so they are reached through the ``graph`` package when an
operator is called, once loading has finished (see graph/__init__.py).
"""

from __future__ import annotations

from theanine import graph


class TensorOperators:
    """Operators shared by every tensor variable (inputs, constants, shared)."""

    def __bool__(self):
        raise TypeError(
            "a symbolic variable has no truth value; use th.where / th.switch for conditions, "
            "or evaluate it first"
        )

    def __iter__(self):
        raise TypeError("a symbolic variable is not iterable; index it explicitly (x[0], x[1], ...)")

    def __len__(self):
        raise TypeError("len() of a symbolic variable is unknown; use x.shape[0]")

    def __index__(self):
        """A Python int where the value is known before any call: an integer constant, a static
        dimension read as ``x.shape[i]`` or integer arithmetic on them (so ``range(x.shape[1])``
        works on a static axis, as on a Keras tensor); anything else raises TypeError."""
        integer = self.ndim == 0 and self.type.dtype.startswith(("int", "uint"))
        value = graph.ops.shape_values.static_int(self) if integer else None
        if value is None:
            raise TypeError(
                f"{self.label()} of type {self.type} has no Python int value before the function "
                "runs; only integer constants and static dimensions (x.shape[i]) do"
            )
        return value

    # arithmetic
    def __add__(self, other):
        return graph.ops.math.add(self, other)

    def __radd__(self, other):
        return graph.ops.math.add(other, self)

    def __sub__(self, other):
        return graph.ops.math.subtract(self, other)

    def __rsub__(self, other):
        return graph.ops.math.subtract(other, self)

    def __mul__(self, other):
        return graph.ops.math.multiply(self, other)

    def __rmul__(self, other):
        return graph.ops.math.multiply(other, self)

    def __truediv__(self, other):
        return graph.ops.math.true_divide(self, other)

    def __rtruediv__(self, other):
        return graph.ops.math.true_divide(other, self)

    def __floordiv__(self, other):
        return graph.ops.math.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return graph.ops.math.floor_divide(other, self)

    def __mod__(self, other):
        return graph.ops.math.mod(self, other)

    def __rmod__(self, other):
        return graph.ops.math.mod(other, self)

    def __pow__(self, other):
        return graph.ops.math.power(self, other)

    def __rpow__(self, other):
        return graph.ops.math.power(other, self)

    def __neg__(self):
        return graph.ops.math.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return graph.ops.math.abs(self)

    def __matmul__(self, other):
        return graph.ops.linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return graph.ops.linalg.matmul(other, self)

    # comparisons; &, |, ^ and ~ are NumPy's bitwise ops (logical on bools)
    def __lt__(self, other):
        return graph.ops.math.less(self, other)

    def __le__(self, other):
        return graph.ops.math.less_equal(self, other)

    def __gt__(self, other):
        return graph.ops.math.greater(self, other)

    def __ge__(self, other):
        return graph.ops.math.greater_equal(self, other)

    def __invert__(self):
        return graph.ops.math.invert(self)

    def __and__(self, other):
        return graph.ops.math.bitwise_and(self, other)

    def __rand__(self, other):
        return graph.ops.math.bitwise_and(other, self)

    def __or__(self, other):
        return graph.ops.math.bitwise_or(self, other)

    def __ror__(self, other):
        return graph.ops.math.bitwise_or(other, self)

    def __xor__(self, other):
        return graph.ops.math.bitwise_xor(self, other)

    def __rxor__(self, other):
        return graph.ops.math.bitwise_xor(other, self)

    # elementwise methods
    def astype(self, dtype):
        return graph.ops.math.cast(self, dtype)

    def clip(self, a_min, a_max):
        return graph.ops.math.clip(self, a_min, a_max)

    def round(self):
        return graph.ops.math.round(self)

    # reductions
    def sum(self, axis=None, keepdims=False, dtype=None):
        return graph.ops.reduce.sum(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis=None, keepdims=False):
        return graph.ops.reduce.mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return graph.ops.reduce.prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return graph.ops.reduce.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return graph.ops.reduce.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return graph.ops.reduce.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return graph.ops.reduce.argmin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return graph.ops.reduce.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return graph.ops.reduce.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def all(self, axis=None, keepdims=False):
        return graph.ops.reduce.all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return graph.ops.reduce.any(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return graph.ops.reduce.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return graph.ops.reduce.cumprod(self, axis=axis)

    # linear algebra
    def dot(self, other):
        return graph.ops.linalg.dot(self, other)

    # shape
    @property
    def shape(self):
        return graph.ops.shape.shape(self)

    @property
    def size(self):
        return graph.ops.shape.size(self)

    @property
    def T(self):
        return graph.ops.shape.transpose(self)

    def reshape(self, *shape):
        """``x.reshape(2, 3)``, ``x.reshape((2, n))`` or ``x.reshape(y.shape)`` (an int vector)."""
        return graph.ops.shape.reshape(self, graph.ops.shape.sizes_or_shape(shape))

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], int)):
            axes = axes[0]
        return graph.ops.shape.transpose(self, axes or None)

    def dimshuffle(self, *pattern):
        return graph.ops.shape.dimshuffle(self, pattern)

    def flatten(self, ndim=1):
        return graph.ops.shape.flatten(self, ndim)

    def ravel(self):
        return graph.ops.shape.flatten(self, 1)

    def squeeze(self, axis=None):
        return graph.ops.shape.squeeze(self, axis)

    def repeat(self, repeats, axis=None):
        return graph.ops.shape.repeat(self, repeats, axis)

    # indexing
    def __getitem__(self, index):
        return graph.ops.subtensor.getitem(self, index)

    def take(self, indices, axis=None):
        return graph.ops.subtensor.take(self, indices, axis)

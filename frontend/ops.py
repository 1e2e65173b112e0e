"""``keras.ops`` for theanine: Keras 3's backend-neutral operations, eager on arrays.

Inside a layer's ``call`` (or any graph being built) an op takes symbolic
tensors and returns symbolic tensors: it IS the theanine function of the
same name (``ops.sum`` is ``th.sum``).  Called on NumPy arrays and Python
numbers only, as Keras code does at top level (``ops.ones((3, 3))``,
``ops.mean(ops.square(y - t))``), it runs at once and returns NumPy arrays
(the reference interpreter, ``graph/evaluate.py``, evaluates the small graph
it built): the same values, the same dtypes (float32 by default).

The names are Keras 3's; where theanine's function differs, a Keras-shaped
wrapper sits here: ``shape`` returns a tuple (static dims as ints, dynamic
ones as symbolic scalars), ``cond`` takes two callables, ``array`` is
``convert_to_tensor``, ``one_hot`` takes ``num_classes`` and ``axis``, and
the activations (``relu``, ``gelu``, ``silu``, ...) are
``theanine.frontend.activations``'.

Python's ``==`` on two tensors stays Theano's identity test (graph code
keeps variables in lists and dicts); compare elementwise with ``ops.equal``.
"""

from __future__ import annotations

import builtins
import functools
import warnings
from collections.abc import Callable, Mapping

import numpy as np

import theanine as th
from theanine.frontend import activations
from theanine.graph.basic import Variable
from theanine.graph.evaluate import evaluate

FORWARDED = (
    "abs", "absolute", "add", "all", "amax", "amin", "any", "append", "arange", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "argsort", "average",
    "binary_crossentropy", "broadcast_to", "categorical_crossentropy", "ceil", "clip",
    "concatenate", "conj", "conjugate", "copy", "cos", "cosh", "count_nonzero",
    "cross", "cumprod", "cumsum", "diag", "diagonal", "diff", "divide", "divide_no_nan", "dot",
    "einsum", "empty", "equal", "erf", "exp", "expand_dims", "expm1", "eye", "flip", "floor",
    "floor_divide", "full", "full_like", "greater", "greater_equal", "hstack", "identity", "imag",
    "isclose", "isfinite", "isinf", "isnan", "less", "less_equal", "linspace", "log", "log10",
    "log1p", "log2", "logaddexp", "logical_and", "logical_not", "logical_or", "logical_xor",
    "logspace", "logsumexp", "matmul", "max", "maximum", "mean", "median", "meshgrid", "min",
    "minimum", "mod", "moveaxis", "multiply", "nan_to_num", "negative", "norm", "not_equal",
    "ones", "ones_like", "outer", "pad", "power", "prod", "quantile", "ravel", "real",
    "reciprocal", "repeat", "reshape", "roll", "round", "sign", "sin", "sinh", "size", "sort",
    "sparse_categorical_crossentropy", "split", "sqrt", "square", "squeeze", "stack", "std",
    "stop_gradient", "subtract", "sum", "swapaxes", "take", "take_along_axis", "tan", "tensordot",
    "tile", "top_k", "trace", "transpose", "tri", "tril", "triu", "true_divide", "var", "vdot",
    "vstack", "where", "zeros", "zeros_like",
)
"""Keras op names that are theanine functions of the same name and arguments."""

ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
               "elu", "selu", "gelu", "silu", "swish", "leaky_relu", "hard_sigmoid", "mish")
"""Keras op names that are ``frontend.activations`` functions."""


def _symbolic(value) -> bool:
    """Whether ``value`` (or anything in a list, tuple or dict of it) is a graph variable."""
    if isinstance(value, Variable):
        return True
    if isinstance(value, (list, tuple)):
        return builtins.any(_symbolic(v) for v in value)
    if isinstance(value, Mapping):
        return builtins.any(_symbolic(v) for v in value.values())
    return False


def _evaluated(result):
    """``result`` with every graph variable in it replaced by its value (a NumPy array)."""
    if isinstance(result, Variable):
        return np.asarray(evaluate([result], {})[0])
    if isinstance(result, (list, tuple)):
        return type(result)(_evaluated(r) for r in result)
    return result


def eager(function: Callable) -> Callable:
    """``function`` made eager on arrays: symbolic arguments give symbolic results, arrays and
    numbers only give NumPy arrays (see the module docstring)."""

    @functools.wraps(function)
    def op(*args, **kwargs):
        result = function(*args, **kwargs)
        if _symbolic(args) or _symbolic(kwargs):
            return result
        return _evaluated(result)

    return op


for _name in FORWARDED:
    globals()[_name] = eager(getattr(th, _name))
for _name in ACTIVATIONS:
    globals()[_name] = eager(getattr(activations, _name))


def shape(x) -> tuple:
    """The shape of ``x`` as a tuple: ints where known, symbolic scalars for dims known at run time."""
    if not isinstance(x, Variable):
        return tuple(np.shape(x))
    return tuple(dim if dim is not None else x.shape[i] for i, dim in enumerate(x.type.shape))


def ndim(x) -> int:
    """The rank of ``x``."""
    return x.ndim if isinstance(x, Variable) else np.ndim(x)


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array; a symbolic tensor must not depend on graph inputs (it is evaluated)."""
    return _evaluated(x) if isinstance(x, Variable) else np.asarray(x)


array = convert_to_tensor = eager(th.convert_to_tensor)


@eager
def cast(x, dtype):
    """``x`` in ``dtype``.  A Python bool here is almost always ``a == b`` written on two tensors,
    which Python answers by identity (theanine keeps Theano's ``==``): that is warned about, with
    ``ops.equal`` as the elementwise comparison."""
    if isinstance(x, bool):
        warnings.warn(
            "ops.cast received a Python bool: `a == b` (or `!=`) on two tensors compares them as objects, "
            "not elementwise; use ops.equal(a, b) / ops.not_equal(a, b)",
            UserWarning,
            stacklevel=3,
        )
    return th.cast(x, dtype)


@eager
def one_hot(x, num_classes: int, axis: int = -1, dtype=None):
    """Keras' ``ops.one_hot``: a new axis ``axis`` of ``num_classes`` entries, 1 at each index."""
    encoded = th.one_hot(x, num_classes, dtype)
    return encoded if axis in (-1, encoded.ndim - 1) else th.moveaxis(encoded, -1, axis)


def cond(pred, true_fn: Callable, false_fn: Callable):
    """``true_fn()`` where ``pred`` holds, else ``false_fn()`` (Keras' ``ops.cond``): a lazy
    ``th.ifelse`` for a symbolic ``pred``, a Python branch for a value."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("ops.cond: true_fn and false_fn must be callables taking no arguments")
    if not isinstance(pred, Variable):
        return true_fn() if bool(np.asarray(pred)) else false_fn()
    then_value, else_value = true_fn(), false_fn()
    if isinstance(then_value, (list, tuple)):
        return type(then_value)(th.ifelse(pred, list(then_value), list(else_value)))
    return th.ifelse(pred, then_value, else_value)


__all__ = sorted({*FORWARDED, *ACTIVATIONS, "shape", "ndim", "convert_to_numpy", "convert_to_tensor", "array",
                  "cond", "one_hot", "cast"})

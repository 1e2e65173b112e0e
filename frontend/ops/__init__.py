"""``keras.ops`` for theanine: Keras 3's backend-neutral operations, eager on arrays.

Inside a layer's ``call`` (or any graph being built) an op takes symbolic
tensors and returns symbolic tensors: it IS the theanine function of the
same name (``ops.sum`` is ``th.sum``).  Called on NumPy arrays and Python
numbers only, as Keras code does at top level (``ops.ones((3, 3))``,
``ops.mean(ops.square(y - t))``), it runs at once and returns NumPy arrays
(the reference interpreter, ``graph/evaluate.py``, evaluates the small graph
it built): the same values, the same dtypes (float32 by default).

The names are Keras 3's; where theanine's function differs, a Keras-shaped
wrapper sits in a sibling module: ``core`` (tensors, control flow, slices
and scatters), ``nn`` (convolutions, pooling, normalization, attention,
losses), ``numpy_extra`` (the NumPy-like functions theanine's graph library
lacks), ``math`` (segment reductions, FFTs, ``logdet``...), ``linalg`` (with
``cdist``), ``patches`` (``fold``/``unfold``), ``distinct_values``
(``unique``), ``bitcast`` (``view``), ``forward_mode`` (``jvp``),
``complex_values`` (``polar``, ``view_as_complex``/``view_as_real``,
``eig``: arrays only, the graph's tensors being real) and ``image`` (also
reachable as ``ops.image``, as in Keras).

Python's ``==`` on two tensors stays Theano's identity test (graph code
keeps variables in lists and dicts); compare elementwise with ``ops.equal``.
"""

from __future__ import annotations

import functools
import sys

import theanine as th
from theanine.frontend import activations
from theanine.frontend.ops import (  # noqa: F401
    bitcast, complex_values, core, ctc, einops, forward_mode, image, linalg, math, nn, numpy_extra, numpy_statistics,
    distinct_values, patches,
)
from theanine.frontend.ops.bitcast import *  # noqa: F403
from theanine.frontend.ops.complex_values import *  # noqa: F403
from theanine.frontend.ops.core import *  # noqa: F403
from theanine.frontend.ops.ctc import *  # noqa: F403
from theanine.frontend.ops.einops import *  # noqa: F403
from theanine.frontend.ops.forward_mode import *  # noqa: F403
from theanine.frontend.ops.linalg import *  # noqa: F403
from theanine.frontend.ops.math import *  # noqa: F403
from theanine.frontend.ops.nn import *  # noqa: F403
from theanine.frontend.ops.numpy_extra import *  # noqa: F403
from theanine.frontend.ops.numpy_statistics import *  # noqa: F403
from theanine.frontend.ops.patches import *  # noqa: F403
from theanine.frontend.ops.distinct_values import *  # noqa: F403
from theanine.frontend.ops.eager import eager

FORWARDED = (
    "abs", "absolute", "add", "all", "amax", "amin", "any", "append", "arange", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "argsort", "average",
    "binary_crossentropy", "broadcast_to", "categorical_crossentropy", "ceil", "clip",
    "concatenate", "conj", "conjugate", "copy", "cos", "cosh", "count_nonzero",
    "cross", "cumprod", "cumsum", "diag", "diagonal", "diff", "divide", "divide_no_nan", "dot",
    "einsum", "empty", "equal", "erf", "erfc", "exp", "exp2", "expand_dims", "expm1", "eye", "flip",
    "floor", "floor_divide", "full", "full_like", "greater", "greater_equal", "hstack", "identity",
    "imag", "isclose", "isfinite", "isinf", "isnan", "less", "less_equal", "linspace", "log", "log10",
    "log1p", "log2", "logaddexp", "logical_and", "logical_not", "logical_or", "logical_xor",
    "logspace", "logsumexp", "matmul", "max", "maximum", "mean", "median", "meshgrid", "min",
    "minimum", "mod", "moveaxis", "multiply", "nan_to_num", "negative", "norm", "not_equal",
    "ones", "ones_like", "outer", "pad", "power", "prod", "quantile", "ravel", "real",
    "reciprocal", "repeat", "reshape", "roll", "round", "sign", "sin", "sinh", "size", "sort",
    "sparse_categorical_crossentropy", "split", "sqrt", "square", "squeeze", "stack", "std",
    "stop_gradient", "subtract", "sum", "swapaxes", "take", "take_along_axis", "tan", "tensordot",
    "tile", "top_k", "trace", "transpose", "tri", "tril", "triu", "true_divide", "var", "vdot",
    "vstack", "where", "zeros", "zeros_like", "bitwise_and", "bitwise_or", "bitwise_xor",
)
"""Keras op names that are theanine functions of the same name and arguments."""

ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
               "elu", "selu", "silu", "swish", "leaky_relu", "hard_sigmoid", "mish",
               "celu", "glu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid",
               "soft_shrink", "sparse_plus", "sparse_sigmoid", "squareplus", "tanh_shrink", "threshold")
"""Keras op names that are ``frontend.activations`` functions."""

for _name in FORWARDED:
    globals()[_name] = eager(getattr(th, _name))


def _on_tensor(activation):
    """``activation`` taking arrays too: its first argument becomes a graph tensor."""

    @functools.wraps(activation)
    def apply(x, *args, **kwargs):
        return activation(th.as_tensor_variable(x), *args, **kwargs)

    return eager(apply)


for _name in ACTIVATIONS:
    globals()[_name] = _on_tensor(getattr(activations, _name))


numpy = sys.modules[__name__]
"""Keras' ``keras.ops.numpy`` namespace: here the ops module itself (``ops.numpy.sum is ops.sum``), also
importable as ``theanine.frontend.ops.numpy``; left out of ``__all__`` so that ``from ... ops import *``
never rebinds a script's ``numpy``."""
sys.modules.setdefault(f"{__name__}.numpy", numpy)

__all__ = sorted({*FORWARDED, *ACTIVATIONS, *core.__all__, *nn.__all__, *numpy_extra.__all__,
                  *numpy_statistics.__all__, *linalg.__all__, *math.__all__, *einops.__all__, *ctc.__all__,
                  *bitcast.__all__, *complex_values.__all__, *forward_mode.__all__, *patches.__all__,
                  *distinct_values.__all__})

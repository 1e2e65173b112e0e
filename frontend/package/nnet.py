"""``th.nnet``: Theano's ``theano.tensor.nnet`` names, with Theano's argument orders.

Tutorial code written against Theano (``T.nnet.sigmoid(x)``,
``T.nnet.binary_crossentropy(p_1, y)``) keeps its meaning: in particular
the crossentropies take the prediction FIRST, as Theano's do
(``binary_crossentropy(output, target)``, ``categorical_crossentropy(
coding_dist, true_dist)``), while ``th.binary_crossentropy`` follows Keras
(target first).  ``categorical_crossentropy`` takes one-hot rows or integer
labels for ``true_dist``, as Theano's did.  Everything else is theanine's
own op of the same meaning.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.ops.math import clip, exp, maximum, minimum, sigmoid, softplus, where
from theanine.graph.ops.nnet import binary_crossentropy as _binary_crossentropy
from theanine.graph.ops.nnet import categorical_crossentropy as _categorical_crossentropy
from theanine.graph.ops.nnet import log_softmax, softmax
from theanine.graph.ops.nnet import sparse_categorical_crossentropy as _sparse_categorical_crossentropy
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import INT_DTYPES

__all__ = ["sigmoid", "ultra_fast_sigmoid", "hard_sigmoid", "softplus", "softmax", "logsoftmax", "relu", "elu",
           "selu", "binary_crossentropy", "categorical_crossentropy"]

logsoftmax = log_softmax
ultra_fast_sigmoid = sigmoid
"""Theano's fast approximation; here the exact sigmoid (already a fused vector kernel)."""

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def hard_sigmoid(x):
    """Theano's ``clip(0.2 x + 0.5, 0, 1)``."""
    x = as_tensor_variable(x)
    return clip(x * np.asarray(0.2, x.dtype) + np.asarray(0.5, x.dtype), 0, 1)


def relu(x, alpha=0):
    """``max(x, 0)``; with ``alpha`` the leaky form ``x`` above 0, ``alpha * x`` below (Theano's)."""
    x = as_tensor_variable(x)
    if alpha == 0:
        return maximum(x, np.asarray(0, x.dtype))
    return where(x > 0, x, x * np.asarray(alpha, x.dtype))


def elu(x, alpha=1.0):
    """``x`` above 0, ``alpha (exp(x) - 1)`` below."""
    x = as_tensor_variable(x)
    return where(x > 0, x, (exp(minimum(x, np.asarray(0, x.dtype))) - 1) * np.asarray(alpha, x.dtype))


def selu(x):
    """The scaled ELU of Klambauer et al."""
    x = as_tensor_variable(x)
    return elu(x, _SELU_ALPHA) * np.asarray(_SELU_SCALE, x.dtype)


def binary_crossentropy(output, target):
    """Theano's order: ``-(target log(output) + (1 - target) log(1 - output))``, elementwise."""
    return _binary_crossentropy(target, output)


def categorical_crossentropy(coding_dist, true_dist):
    """Theano's order: ``-sum(true_dist * log(coding_dist), axis=-1)`` per row; ``true_dist`` may
    also be integer class labels (one per row)."""
    true_dist = as_tensor_variable(true_dist)
    if true_dist.dtype in INT_DTYPES:
        return _sparse_categorical_crossentropy(true_dist, coding_dist)
    return _categorical_crossentropy(true_dist, coding_dist)

"""Activation functions by name, written with theanine ops (``keras.activations``).

Each activation maps a symbolic tensor to a symbolic tensor of the same
shape and float dtype.  ``get`` resolves a name, a callable or None
(linear); ``serialize`` gives back the name that ``get`` understands, for
layer configs.  Defaults follow Keras 3: ``leaky_relu`` has
``negative_slope=0.2``, ``gelu`` is the exact erf form, ``elu`` has
``alpha=1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import theanine as th
from theanine.frontend.registry import registered_name, registered_object

__all__ = [
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "leaky_relu",
    "relu6",
    "hard_sigmoid",
    "exponential",
    "mish",
    "linear",
    "hard_silu",
    "hard_swish",
    "log_sigmoid",
    "celu",
    "glu",
    "hard_tanh",
    "hard_shrink",
    "soft_shrink",
    "tanh_shrink",
    "threshold",
    "squareplus",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "get",
    "deserialize",
    "serialize",
    "ACTIVATIONS",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """``max(x, 0)``; optionally a leaky slope below ``threshold`` and a cap at ``max_value``."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return th.relu(x)
    out = th.where(x > threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else th.minimum(out, max_value)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return th.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return th.tanh(x)


def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably."""
    return th.softmax(x, axis)


def log_softmax(x, axis: int = -1):
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return th.log_softmax(x, axis)


def softplus(x):
    """``log(1 + exp(x))``."""
    return th.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return x / (1.0 + th.abs(x))


def elu(x, alpha: float = 1.0):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    The exponential only sees ``min(x, 0)``, so large positive inputs cannot
    overflow it and poison the gradient of the unused branch with NaN.
    """
    return th.where(x > 0, x, alpha * th.expm1(th.minimum(x, 0.0)))


def selu(x):
    """Scaled ELU with the self-normalizing constants of Klambauer et al. (2017)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate: bool = False):
    """Gaussian error linear unit: ``x * Phi(x)``, exact (erf) or the tanh approximation."""
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + th.tanh(inner))
    return 0.5 * x * (1.0 + th.erf(x / math.sqrt(2.0)))


def swish(x):
    """``x * sigmoid(x)`` (also called SiLU)."""
    return x * th.sigmoid(x)


silu = swish


def leaky_relu(x, negative_slope: float = 0.2):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (Keras 3 default slope 0.2)."""
    return th.where(x > 0, x, negative_slope * x)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return th.minimum(th.relu(x), 6.0)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``: a piecewise-linear sigmoid (Keras 3 definition)."""
    return relu6(x + 3.0) / 6.0


def exponential(x):
    """``exp(x)``."""
    return th.exp(x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return x * th.tanh(th.softplus(x))


def linear(x):
    """The identity."""
    return x


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow."""
    return -th.softplus(-x)


def celu(x, alpha: float = 1.0):
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    zero = th.constant(0.0, dtype=x.dtype)
    return th.maximum(x, zero) + alpha * th.expm1(th.minimum(x, zero) / alpha)


def glu(x, axis: int = -1):
    """Gated linear unit: ``a * sigmoid(b)`` of the two halves of ``axis``."""
    size = x.type.shape[axis]
    if size is not None and size % 2:
        raise ValueError(f"glu splits axis {axis} into two halves: it needs an even size. Received: {size}")
    half = x.shape[axis] // 2
    first, second = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    first[axis], second[axis] = slice(None, half), slice(half, None)
    return x[tuple(first)] * th.sigmoid(x[tuple(second)])


def hard_tanh(x):
    """``x`` clipped to [-1, 1]."""
    return th.clip(x, -1.0, 1.0)


def hard_shrink(x, threshold: float = 0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    return th.where(th.gt(abs(x), threshold), x, th.zeros_like(x))


def soft_shrink(x, threshold: float = 0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    return th.where(th.gt(x, threshold), x - threshold, th.where(th.lt(x, -threshold), x + threshold, th.zeros_like(x)))


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return x - th.tanh(x)


def threshold(x, threshold: float, default_value: float):
    """``x`` where ``x > threshold``, else ``default_value``."""
    return th.where(th.gt(x, threshold), x, th.constant(default_value, dtype=x.dtype))


def squareplus(x, b: float = 4.0):
    """``(x + sqrt(x**2 + b)) / 2``: a smooth ReLU."""
    return (x + th.sqrt(x * x + b)) / 2.0


def sparse_plus(x):
    """0 for ``x <= -1``, ``(x + 1)**2 / 4`` in between, ``x`` from 1."""
    return th.where(th.le(x, -1.0), th.zeros_like(x), th.where(th.lt(x, 1.0), 0.25 * (x + 1.0) ** 2, x))


def sparse_sigmoid(x):
    """0 for ``x <= -1``, ``(x + 1) / 2`` in between, 1 from 1."""
    return th.clip(0.5 * (x + 1.0), 0.0, 1.0)


def sparsemax(x, axis: int = -1):
    """Sparsemax: the Euclidean projection of ``x`` onto the probability simplex along ``axis``.

    The threshold is ``(sum of the k largest - 1) / k`` (Martins and Astudillo, 2016); Keras 3.15's
    backends sum the running sums instead, which leaves rows that do not add up to 1 whenever
    more than one entry is kept, so theanine follows the paper."""
    x = th.as_tensor_variable(x)
    axis = axis % x.ndim
    ordered = -th.sort(-x, axis=axis)
    cumulative = th.cumsum(ordered, axis=axis)
    count_shape = [1] * x.ndim
    count_shape[axis] = -1
    ranks = th.reshape(th.cast(th.arange(1, th.shape(x)[axis] + 1), x.dtype), tuple(count_shape))
    support = th.gt(ordered - (cumulative - 1) / ranks, 0)
    k = th.sum(th.cast(support, x.dtype), axis=axis, keepdims=True)
    tau = (th.sum(th.where(support, ordered, th.zeros_like(ordered)), axis=axis, keepdims=True) - 1) / k
    return th.maximum(x - tau, th.constant(0, dtype=x.dtype))


ACTIVATIONS: Mapping[str, Callable] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "softsign": softsign,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "swish": swish,
    "silu": silu,
    "leaky_relu": leaky_relu,
    "relu6": relu6,
    "hard_sigmoid": hard_sigmoid,
    "exponential": exponential,
    "mish": mish,
    "linear": linear,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "log_sigmoid": log_sigmoid,
    "celu": celu,
    "glu": glu,
    "hard_tanh": hard_tanh,
    "hard_shrink": hard_shrink,
    "soft_shrink": soft_shrink,
    "tanh_shrink": tanh_shrink,
    "threshold": threshold,
    "squareplus": squareplus,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "sparsemax": sparsemax,
}
"""Every built-in activation by name (``silu`` and ``swish`` are the same function, as are
``hard_silu`` and ``hard_swish``)."""


def get(identifier, custom_objects: Mapping[str, Callable] | None = None) -> Callable:
    """The activation for a name, a callable (returned as is) or None (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        found = registered_object(identifier, custom_objects) or ACTIVATIONS.get(identifier)
        if found is not None:
            return found
        raise ValueError(
            f"Unknown activation {identifier!r}. Expected one of {sorted(ACTIVATIONS)}, a name "
            "registered with @register_serializable or a name passed in custom_objects"
        )
    raise TypeError(f"An activation must be a name, a callable or None. Received: {identifier!r}")


def serialize(activation: Callable) -> str:
    """The name of ``activation``: its built-in name, else its registered name or ``__name__``."""
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return name
    name = registered_name(activation)
    if not name or name == "<lambda>":
        raise ValueError(
            f"Cannot serialize the activation {activation!r}: give it a name (a def function) "
            "and pass it in custom_objects when loading"
        )
    return name


def deserialize(config, custom_objects: Mapping[str, Callable] | None = None) -> Callable:
    """The activation a config names: a name (``serialize``'s output) or Keras' dict form
    ``{"class_name": "function", "config": name}`` (also ``{"class_name": name}``)."""
    if isinstance(config, Mapping):
        name = config.get("config") if config.get("class_name") == "function" else config.get("class_name")
        if not isinstance(name, str):
            raise ValueError(f"activations.deserialize: the dict names no activation. Received: {config!r}")
        config = name
    if not isinstance(config, str):
        raise TypeError(f"activations.deserialize expects a name or a serialized dict. Received: {config!r}")
    return get(config, custom_objects)

"""ONNX's optimizer ops (domain ``ai.onnx.preview.training``) as theanine expressions.

Each takes the learning rate ``R`` and step count ``T``, then the tensors to
update, their gradients and their optimizer states (``n`` of each, grouped
by kind), and returns the updated tensors then the updated states, with
ONNX's formulas: a ``norm_coefficient`` adds L2 regularization to the
gradient; Adagrad decays the rate by ``1 + T * decay_factor``; Adam corrects
its rate for bias once ``T > 0`` and shrinks the result by
``norm_coefficient_post``; Momentum ("standard" or "nesterov") uses ``beta``
only once ``T > 0``.
"""

from __future__ import annotations

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import imports


def _groups(args, kinds: int) -> list[tuple]:
    """``(x, g, state...)`` per updated tensor from ONNX's grouped argument list after ``R, T``."""
    tensors = args[2:]
    n = len(tensors) // kinds
    return [tuple(tensors[k * n + i] for k in range(kinds)) for i in range(n)]


def _as(value, like):
    return th.cast(value, like.dtype)


def _started(t):
    return th.greater(th.reshape(t, ()), 0)


@imports("Adagrad")
def _adagrad(ctx, node, args, attrs):
    r, t = th.reshape(args[0], ()), th.reshape(args[1], ())
    rate = r / (1 + th.cast(t, r.dtype) * attrs.get("decay_factor", 0.0))
    xs, hs = [], []
    for x, g, h in _groups(args, 3):
        regularized = attrs.get("norm_coefficient", 0.0) * x + g
        h_new = h + regularized * regularized
        xs.append(_as(x - _as(rate, x) * regularized / (th.sqrt(h_new) + attrs.get("epsilon", 0.0)), x))
        hs.append(_as(h_new, h))
    return xs + hs


@imports("Adam")
def _adam(ctx, node, args, attrs):
    r, t = th.reshape(args[0], ()), th.reshape(args[1], ())
    alpha, beta = attrs.get("alpha", 0.9), attrs.get("beta", 0.999)
    steps = th.cast(t, "float64")
    corrected = th.cast(r, "float64") * th.sqrt(1 - th.power(beta, steps)) / (1 - th.power(alpha, steps))
    rate = th.where(_started(t), corrected, th.cast(r, "float64"))
    xs, vs, hs = [], [], []
    for x, g, v, h in _groups(args, 4):
        regularized = attrs.get("norm_coefficient", 0.0) * x + g
        v_new = alpha * v + (1 - alpha) * regularized
        h_new = beta * h + (1 - beta) * regularized * regularized
        x_new = x - _as(rate, x) * (v_new / (th.sqrt(h_new) + attrs.get("epsilon", 0.0)))
        xs.append(_as((1 - attrs.get("norm_coefficient_post", 0.0)) * x_new, x))
        vs.append(_as(v_new, v))
        hs.append(_as(h_new, h))
    return xs + vs + hs


@imports("Momentum")
def _momentum(ctx, node, args, attrs):
    r, t = th.reshape(args[0], ()), th.reshape(args[1], ())
    alpha, beta = attrs["alpha"], attrs["beta"]
    nesterov = attrs.get("mode", "standard") == "nesterov"
    xs, vs = [], []
    for x, g, v in _groups(args, 3):
        regularized = attrs.get("norm_coefficient", 0.0) * x + g
        v_new = alpha * v + _as(th.where(_started(t), beta, 1.0), x) * regularized
        step = regularized + alpha * v_new if nesterov else v_new
        xs.append(_as(x - _as(r, x) * step, x))
        vs.append(_as(v_new, v))
    return xs + vs

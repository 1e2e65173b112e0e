"""``verify_grad``: compare a symbolic gradient with central finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.gradient import grad
from theanine.graph.tensor import tensor
from theanine.runtime.function import function

__all__ = ["verify_grad", "GradientError"]


class GradientError(AssertionError):
    """The symbolic and numeric gradients disagree."""


def verify_grad(fun: Callable, points: Sequence, rng: np.random.Generator | None = None,
                eps: float = 1e-6, rtol: float = 1e-4, atol: float = 1e-6,
                backend: str | None = None, mode: str | None = None) -> None:
    """Check ``th.grad`` of ``fun`` at ``points`` against finite differences.

    ``fun`` maps symbolic tensors (one per point) to a tensor; its output is
    projected on a random direction so every output element is checked.
    The check runs in float64; raises ``GradientError`` with the worst
    element on mismatch.
    """
    rng = rng or np.random.default_rng(42)
    points = [np.array(p, dtype="float64", order="C", copy=True) for p in points]
    inputs = [tensor(f"point{i}", "float64", p.shape) for i, p in enumerate(points)]
    out = fun(*inputs)
    value = function(inputs, out, backend=backend, mode=mode)(*points)
    direction = rng.uniform(0.5, 1.5, size=np.shape(value))
    cost = (out.astype("float64") * direction).sum()
    cost_fn = function(inputs, cost, backend=backend, mode=mode)
    grad_fn = function(inputs, grad(cost, inputs), backend=backend, mode=mode)
    analytic = grad_fn(*points)
    for index, symbolic in enumerate(analytic):
        numeric = _numeric_grad(cost_fn, points, index, eps)
        _compare(index, symbolic, numeric, rtol, atol)


def _numeric_grad(cost_fn, points, index: int, eps: float) -> np.ndarray:
    point = points[index]
    result = np.zeros_like(point)
    flat = point.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = cost_fn(*points)
        flat[k] = saved - eps
        minus = cost_fn(*points)
        flat[k] = saved
        result.reshape(-1)[k] = (plus - minus) / (2 * eps)
    return result


def _compare(index: int, symbolic: np.ndarray, numeric: np.ndarray, rtol: float, atol: float) -> None:
    symbolic = np.asarray(symbolic, dtype="float64")
    if symbolic.shape != numeric.shape:
        raise GradientError(f"input {index}: gradient shape {symbolic.shape} != point shape {numeric.shape}")
    error = np.abs(symbolic - numeric)
    bound = atol + rtol * np.abs(numeric)
    if not np.all(error <= bound):
        worst = np.unravel_index(np.argmax(error - bound), error.shape)
        raise GradientError(
            f"input {index}: symbolic gradient {symbolic[worst]} != numeric {numeric[worst]} at index "
            f"{tuple(int(i) for i in worst)} (abs error {error[worst]:.3g}, allowed {bound[worst]:.3g})"
        )

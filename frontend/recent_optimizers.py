"""The update rules published since 2019 (``keras.optimizers`` Lamb, Muon, ScheduleFreeAdamW).

Each is an ``optimizer_base.Optimizer`` with Keras 3's arguments, defaults
and formulas (Keras' source, ``keras/src/optimizers``); ``optimizers``
registers them by name.
"""

from __future__ import annotations

import re

import numpy as np

import theanine as th
from theanine.frontend.optimizer_base import Optimizer, adam_moments
from theanine.graph.shared import SharedVariable

__all__ = ["Lamb", "Muon", "ScheduleFreeAdamW"]


def _norm(x):
    return th.sqrt(th.sum(th.square(x)))


class Lamb(Optimizer):
    """LAMB (You et al., 2019): Adam's bias-corrected step rescaled per weight by the trust ratio.

    ``m``, ``v`` as Adam; ``u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``;
    ``w <- w - lr * r * u`` with ``r = ||w|| / ||u||`` (1 when either norm is 0).
    """

    slot_names = ("momentum", "velocity")
    config_names = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        m, v = adam_moments(gradient, slots, self.beta_1, self.beta_2)
        update = (m / (1.0 - self.beta_1**t)) / (th.sqrt(v / (1.0 - self.beta_2**t)) + self.epsilon)
        weight_norm = _norm(variable)
        update_norm = _norm(update)
        trusted = th.logical_and(weight_norm > 0, update_norm > 0)
        ratio = th.where(trusted, weight_norm / th.where(trusted, update_norm, 1.0), 1.0)
        return variable - ratio * learning_rate * update, {"momentum": m, "velocity": v}


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al., 2024), as Keras 3 writes it.

    The ``momentum`` slot ``z`` starts at the weight; with ``c = 1 / t`` and the
    rate warmed up over ``warmup_steps`` (``lr min(t / warmup_steps, 1)``):
    ``v <- v + (g^2 - v)(1 - b2)``, ``z <- z - lr g / (sqrt(v / (1 - b2^t)) + eps)``,
    ``x = (y - (1 - b1) z_old) / b1``, ``x <- (1 - c) x + c z``,
    ``y <- (1 - b1) z + b1 x``; the weight holds ``y``.
    """

    slot_names = ("momentum", "velocity")
    config_names = ("beta_1", "beta_2", "epsilon", "warmup_steps")

    def __init__(self, learning_rate=0.0025, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 warmup_steps: int = 0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        if isinstance(warmup_steps, bool) or int(warmup_steps) < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0. Received: warmup_steps={warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)

    def initial_slot_value(self, slot, param_value):
        return np.array(param_value) if slot == "momentum" else np.zeros_like(param_value)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        if self.warmup_steps > 0:
            learning_rate = learning_rate * th.minimum(t / self.warmup_steps, 1.0)
        z_old = slots["momentum"]
        v = slots["velocity"] + (th.square(gradient) - slots["velocity"]) * (1.0 - self.beta_2)
        z = z_old - learning_rate * gradient / (th.sqrt(v / (1.0 - self.beta_2**t)) + self.epsilon)
        weight = 1.0 / t
        x = (variable - (1.0 - self.beta_1) * z_old) / self.beta_1
        x = (1.0 - weight) * x + weight * z
        return (1.0 - self.beta_1) * z + self.beta_1 * x, {"momentum": z, "velocity": v}


class Muon(Optimizer):
    """Muon (Jordan et al., 2024; Liu et al., 2025): orthogonalized momentum for matrices, AdamW else.

    A 2-D weight (not an embedding when ``exclude_embeddings``, and whose
    name matches none of the ``exclude_layers`` patterns) takes the Muon step:
    ``m <- momentum m + g``; ``G = g + momentum m`` (Nesterov) or ``m``;
    ``w <- w - lr * O(G) * sqrt(max(rows, cols)) * rms_rate`` with ``O`` five
    Newton-Schulz iterations ``X <- a X + (b A + c A^2) X``, ``A = X X^T`` on
    ``G / ||G||`` (transposed when taller than wide), decayed by
    ``weight_decay``.  Any other weight takes AdamW's step with
    ``lr * adam_lr_ratio``, ``adam_beta_1``/``adam_beta_2``/``epsilon`` and
    ``adam_weight_decay``.  A weight's name stands for Keras' variable path.
    """

    config_names = ("adam_beta_1", "adam_beta_2", "epsilon", "exclude_layers", "muon_a", "muon_b", "muon_c",
                    "adam_lr_ratio", "momentum", "ns_steps", "nesterov", "exclude_embeddings",
                    "adam_weight_decay", "rms_rate")

    def __init__(self, learning_rate=0.001, adam_beta_1: float = 0.9, adam_beta_2: float = 0.999,
                 adam_weight_decay: float | None = 0.004, epsilon: float = 1e-7, weight_decay: float | None = 0.004,
                 exclude_layers=None, exclude_embeddings: bool = True, muon_a: float = 3.4445,
                 muon_b: float = -4.7750, muon_c: float = 2.0315, adam_lr_ratio: float = 1.0,
                 momentum: float = 0.95, ns_steps: int = 5, nesterov: bool = True, rms_rate: float | None = 0.2,
                 **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = float(adam_beta_1), float(adam_beta_2), float(epsilon)
        self.adam_weight_decay = None if adam_weight_decay is None else float(adam_weight_decay)
        self.exclude_layers = [str(p) for p in exclude_layers or []]
        self.exclude_embeddings = bool(exclude_embeddings)
        self.muon_a, self.muon_b, self.muon_c = float(muon_a), float(muon_b), float(muon_c)
        self.adam_lr_ratio, self.momentum = float(adam_lr_ratio), float(momentum)
        if isinstance(ns_steps, bool) or int(ns_steps) < 0:
            raise ValueError(f"ns_steps must be an integer >= 0. Received: ns_steps={ns_steps!r}")
        self.ns_steps, self.nesterov = int(ns_steps), bool(nesterov)
        self.rms_rate = None if rms_rate is None else float(rms_rate)

    def uses_adam(self, param: SharedVariable) -> bool:
        """Keras' ``_should_use_adamw``: not a matrix, an embedding, or an excluded layer's weight."""
        name = param.name or ""
        if param.ndim != 2 or (self.exclude_embeddings and "embedding" in name.lower()):
            return True
        return any(re.search(pattern, name) for pattern in self.exclude_layers)

    def slots_for(self, param):
        return ("momentum", "velocity") if self.uses_adam(param) else ("momentum",)

    def decay_for(self, param):
        return self.adam_weight_decay if self.uses_adam(param) else self.weight_decay

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        if "velocity" in slots:
            return self._adam_step(gradient, variable, learning_rate * self.adam_lr_ratio, slots)
        m = slots["momentum"] + gradient + slots["momentum"] * (self.momentum - 1.0)
        direction = gradient + self.momentum * m if self.nesterov else m
        update = learning_rate * self._orthogonalized(direction)
        if self.rms_rate is not None:
            rows, columns = th.shape(variable)[0], th.shape(variable)[1]
            update = update * th.sqrt(th.cast(th.maximum(rows, columns), variable.dtype)) * self.rms_rate
        return variable - update, {"momentum": m}

    def _adam_step(self, gradient, variable, learning_rate, slots):
        t = self.local_step(variable.dtype)
        alpha = learning_rate * th.sqrt(1.0 - self.adam_beta_2**t) / (1.0 - self.adam_beta_1**t)
        m, v = adam_moments(gradient, slots, self.adam_beta_1, self.adam_beta_2)
        return variable - m * alpha / (th.sqrt(v) + self.epsilon), {"momentum": m, "velocity": v}

    def _orthogonalized(self, x):
        """Keras' ``zeropower_via_newtonschulz5`` of a matrix of static shape."""
        tall = x.type.shape[0] is not None and x.type.shape[1] is not None and x.type.shape[0] > x.type.shape[1]
        if tall:
            x = th.DimShuffle([1, 0])(x)
        x = x / (_norm(x) + 1e-7)
        for _ in range(self.ns_steps):
            a = th.matmul(x, th.DimShuffle([1, 0])(x))
            x = self.muon_a * x + th.matmul(self.muon_b * a + self.muon_c * th.matmul(a, a), x)
        return th.DimShuffle([1, 0])(x) if tall else x

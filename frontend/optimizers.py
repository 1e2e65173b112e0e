"""The optimizers (``keras.optimizers``): Keras 3's update rules, loss scaling, lookup by name.

The contract every rule follows (clipping, weight decay, EMA, state for
saving) is ``optimizer_base.Optimizer``; the schedules are in
``schedules``; the rules published since 2019 (Lamb, Muon,
ScheduleFreeAdamW) in ``recent_optimizers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

import theanine as th
from theanine.frontend.multi_optimizer import MultiOptimizer, OptimizerMap
from theanine.frontend.optimizer_base import Optimizer, adam_moments
from theanine.frontend.recent_optimizers import Lamb, Muon, ScheduleFreeAdamW
from theanine.frontend.registry import Registry
from theanine.frontend.schedules import (
    SCHEDULE_REGISTRY,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
    schedules,
)
from theanine.frontend.variables import variable
from theanine.graph.shared import SharedVariable

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Nadam",
    "Adamax",
    "Lamb",
    "Muon",
    "ScheduleFreeAdamW",
    "Lion",
    "Ftrl",
    "Adafactor",
    "LossScaleOptimizer",
    "MultiOptimizer",
    "OptimizerMap",
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "InverseTimeDecay",
    "PolynomialDecay",
    "CosineDecayRestarts",
    "schedules",
    "SCHEDULE_REGISTRY",
    "get",
    "serialize",
    "deserialize",
]


# ----------------------------------------------------------------------------- rules


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    ``m <- momentum * m - lr * g``; ``w <- w + m`` (Nesterov: ``w <- w + momentum * m - lr * g``
    with the new ``m``); without momentum ``w <- w - lr * g``.
    """

    config_names = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        if not self.momentum:
            return variable - gradient * learning_rate, {}
        m = slots["momentum"] * self.momentum - gradient * learning_rate
        step = m * self.momentum - gradient * learning_rate if self.nesterov else m
        return variable + step, {"momentum": m}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras' epsilon outside the square root, optionally AMSGrad.

    ``m <- m + (g - m)(1 - b1)``, ``v <- v + (g^2 - v)(1 - b2)``,
    ``w <- w - m * lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)``.
    """

    config_names = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("momentum", "velocity", "velocity_hat") if amsgrad else ("momentum", "velocity")

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        alpha = learning_rate * th.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        m, v = adam_moments(gradient, slots, self.beta_1, self.beta_2)
        new_slots = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new_slots["velocity_hat"] = th.maximum(slots["velocity_hat"], v)
        return variable - m * alpha / (th.sqrt(v) + self.epsilon), new_slots


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); Keras' default weight_decay=0.004.

    The other arguments are Adam's (``beta_1``, ``beta_2``, ``epsilon``, ``amsgrad``, ...).
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop with epsilon inside the square root, optional momentum and centering.

    ``v <- rho v + (1 - rho) g^2``; centered: ``a <- rho a + (1 - rho) g`` and the
    denominator is ``sqrt(v - a^2 + eps)``, else ``sqrt(v + eps)``;
    ``inc = lr g / denominator``; momentum: ``m <- momentum m + inc``, ``w <- w - m``.
    """

    config_names = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate=0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = (
            ("velocity",) + (("momentum",) if momentum > 0 else ()) + (("average_gradient",) if centered else ())
        )

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        v = self.rho * slots["velocity"] + (1.0 - self.rho) * th.square(gradient)
        new_slots = {"velocity": v}
        if self.centered:
            average = new_slots["average_gradient"] = (
                self.rho * slots["average_gradient"] + (1.0 - self.rho) * gradient
            )
            denominator = v - th.square(average) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = learning_rate * gradient / th.sqrt(denominator)
        if self.momentum > 0:
            increment = new_slots["momentum"] = self.momentum * slots["momentum"] + increment
        return variable - increment, new_slots


class Adagrad(Optimizer):
    """Adagrad: ``acc <- acc + g^2``; ``w <- w - lr g / sqrt(acc + eps)``; ``acc`` starts at 0.1."""

    slot_names = ("accumulator",)
    config_names = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def initial_slot_value(self, slot, param_value):
        return np.full_like(param_value, self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        accumulator = slots["accumulator"] + th.square(gradient)
        step = learning_rate * gradient / th.sqrt(accumulator + self.epsilon)
        return variable - step, {"accumulator": accumulator}


class Adadelta(Optimizer):
    """Adadelta (Zeiler): running averages of squared gradients and squared updates.

    ``Eg <- rho Eg + (1 - rho) g^2``; ``d = -sqrt(Ed + eps) / sqrt(Eg + eps) * g`` (old ``Ed``);
    ``Ed <- rho Ed + (1 - rho) d^2``; ``w <- w + lr d``.
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")
    config_names = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        grad_average = self.rho * slots["accumulated_grad"] + (1.0 - self.rho) * th.square(gradient)
        root_mean_delta = th.sqrt(slots["accumulated_delta_var"] + self.epsilon)
        delta = -root_mean_delta * gradient / th.sqrt(grad_average + self.epsilon)
        delta_average = self.rho * slots["accumulated_delta_var"] + (1.0 - self.rho) * th.square(delta)
        new_slots = {"accumulated_grad": grad_average, "accumulated_delta_var": delta_average}
        return variable + learning_rate * delta, new_slots


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Dozat's momentum schedule ``u_t = b1 (1 - 0.5 * 0.96^t)``.

    The product ``prod(u_1..u_t)`` is optimizer-wide state, updated before the weights.
    """

    slot_names = ("momentum", "velocity")
    config_names = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def create_shared_state(self) -> dict[str, SharedVariable]:
        return {"u_product": variable(np.float32(1.0), name=f"{self.name}/u_product")}

    def _u(self, step):
        return self.beta_1 * (1.0 - 0.5 * th.power(th.constant(0.96, step.dtype), step))

    def shared_state_updates(self) -> dict:
        return {"u_product": self._shared_state["u_product"] * self._u(self.local_step("float32"))}

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        u_t, u_next = self._u(t), self._u(t + 1.0)
        u_product = th.cast(shared["u_product"], variable.dtype)
        m, v = adam_moments(gradient, slots, self.beta_1, self.beta_2)
        m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * gradient / (1.0 - u_product)
        v_hat = v / (1.0 - self.beta_2**t)
        new_variable = variable - m_hat * learning_rate / (th.sqrt(v_hat) + self.epsilon)
        return new_variable, {"momentum": m, "velocity": v}


class Adamax(Optimizer):
    """Adam's infinity-norm variant (Kingma & Ba, section 7).

    ``m <- m + (g - m)(1 - b1)``, ``u <- max(b2 u, |g|)``,
    ``w <- w - lr m / ((1 - b1^t)(u + eps))``.
    """

    slot_names = ("momentum", "norm")
    config_names = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        m = slots["momentum"] + (gradient - slots["momentum"]) * (1.0 - self.beta_1)
        u = th.maximum(self.beta_2 * slots["norm"], th.abs(gradient))
        step = learning_rate * m / ((1.0 - self.beta_1**t) * (u + self.epsilon))
        return variable - step, {"momentum": m, "norm": u}


class Lion(Optimizer):
    """Lion (Chen et al., 2023): the sign of an interpolated momentum.

    ``w <- w - lr sign(b1 m + (1 - b1) g)``, then ``m <- b2 m + (1 - b2) g``.
    """

    slot_names = ("momentum",)
    config_names = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(
                f"Lion expects beta_1 in (0, 1]. Received: beta_1={beta_1!r}"
            )
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        m = slots["momentum"]
        direction = th.sign(m * self.beta_1 + gradient * (1.0 - self.beta_1))
        new_m = m * self.beta_2 + gradient * (1.0 - self.beta_2)
        return variable - learning_rate * direction, {"momentum": new_m}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al.), Keras' formulation.

    With ``p = -learning_rate_power``, ``l2' = l2 + beta / (2 lr)`` and
    ``g' = g + 2 l2_shrinkage w``: ``n' = n + g^2``;
    ``z <- z + g' - (n'^p - n^p) / lr * w``;
    ``w <- (clip(z, -l1, l1) - z) / (n'^p / lr + 2 l2')``; ``n <- n'``.
    """

    slot_names = ("accumulator", "linear")
    config_names = (
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
    )

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        if learning_rate_power > 0:
            raise ValueError(
                "Ftrl expects learning_rate_power <= 0. "
                f"Received: learning_rate_power={learning_rate_power!r}"
            )
        for name, value in (
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
        ):
            if value < 0:
                raise ValueError(f"Ftrl expects {name} >= 0. Received: {name}={value!r}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def initial_slot_value(self, slot, param_value):
        if slot == "accumulator":
            return np.full_like(param_value, self.initial_accumulator_value)
        return np.zeros_like(param_value)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        power = th.constant(-self.learning_rate_power, variable.dtype)
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * learning_rate)
        shrunk = gradient + 2.0 * self.l2_shrinkage_regularization_strength * variable
        accumulator = slots["accumulator"]
        new_accumulator = accumulator + th.square(gradient)
        new_scale = th.power(new_accumulator, power)
        linear = slots["linear"] + shrunk - (new_scale - th.power(accumulator, power)) / learning_rate * variable
        quadratic = new_scale / learning_rate + 2.0 * l2
        new_variable = (th.clip(linear, -l1, l1) - linear) / quadratic
        return new_variable, {"accumulator": new_accumulator, "linear": linear}


def _rms(x):
    """Root mean square over all elements."""
    return th.sqrt(th.mean(th.square(x)))


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern): second moments factored over a weight's last two axes.

    With ``t`` the step, ``b2 = 1 - t^beta_2_decay`` and ``G = g^2 + epsilon_1``: a weight of
    rank >= 2 keeps row and column means ``r <- b2 r + (1 - b2) mean(G, -1)``,
    ``c <- b2 c + (1 - b2) mean(G, -2)`` and uses ``v = r / mean(r, -1) (outer) c``; a smaller
    one keeps ``v <- b2 v + (1 - b2) G``. ``u = g / sqrt(v)`` is scaled down to RMS at most
    ``clip_threshold``; ``w <- w - max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t)) * u``.
    As in Keras 3 the step is capped at ``1 / sqrt(t)`` whatever ``relative_step`` says;
    the flag is kept for the config.
    """

    slot_names = ("row", "column", "velocity")
    config_names = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    def __init__(
        self,
        learning_rate=0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        if not clip_threshold > 0:
            raise ValueError(
                f"Adafactor expects a positive clip_threshold. Received: clip_threshold={clip_threshold!r}"
            )
        self.beta_2_decay, self.epsilon_1 = float(beta_2_decay), float(epsilon_1)
        self.epsilon_2, self.clip_threshold = float(epsilon_2), float(clip_threshold)
        self.relative_step = bool(relative_step)

    def initial_slot_value(self, slot, param_value):
        if slot == "velocity":
            return np.zeros_like(param_value)
        if param_value.ndim < 2:
            return np.zeros((), param_value.dtype)
        shape = param_value.shape[:-1] if slot == "row" else param_value.shape[:-2] + param_value.shape[-1:]
        return np.zeros(shape, param_value.dtype)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        t = self.local_step(variable.dtype)
        rho = th.minimum(learning_rate, 1.0 / th.sqrt(t))
        alpha = th.maximum(self.epsilon_2, _rms(variable)) * rho
        squared = th.square(gradient) + self.epsilon_1
        beta_2 = 1.0 - th.power(t, th.constant(self.beta_2_decay, variable.dtype))
        if variable.ndim >= 2:
            row = beta_2 * slots["row"] + (1.0 - beta_2) * th.mean(squared, axis=-1)
            column = beta_2 * slots["column"] + (1.0 - beta_2) * th.mean(squared, axis=-2)
            normalized = row / th.mean(row, axis=-1, keepdims=True)
            velocity = th.expand_dims(normalized, -1) * th.expand_dims(column, -2)
            new_slots = {"row": row, "column": column, "velocity": velocity}
        else:
            velocity = beta_2 * slots["velocity"] + (1.0 - beta_2) * squared
            new_slots = {"velocity": velocity}
        update = gradient / th.sqrt(velocity)
        update = update / th.maximum(1.0, _rms(update) / self.clip_threshold)
        return variable - alpha * update, new_slots


# ----------------------------------------------------------------------------- loss scaling

_BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                  "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """An optimizer around ``inner_optimizer`` that scales the loss dynamically, as Keras 3's.

    The training step takes the gradients of ``scale_loss(loss)`` (the loss
    times ``dynamic_scale``); a step divides them by the scale and, when they
    are all finite, lets the inner optimizer apply them; otherwise it skips
    the step (weights and inner state unchanged) and halves the scale.  After
    ``dynamic_growth_steps`` finite steps in a row the scale doubles.  The
    learning rate and ``iterations`` are the inner optimizer's.
    """

    def __init__(self, inner_optimizer, initial_scale: float = 2.0**15, dynamic_growth_steps: int = 2000,
                 name: str | None = None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for argument, default in _BASE_DEFAULTS.items():
            if argument in kwargs and kwargs.pop(argument) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{argument}`. "
                                 f"Instead, set `{argument}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError("LossScaleOptimizer wraps an optimizer instance. "
                            f"Received: inner_optimizer={inner_optimizer!r}")
        if isinstance(dynamic_growth_steps, bool) or int(dynamic_growth_steps) < 1:
            raise ValueError(f"dynamic_growth_steps must be an integer >= 1. "
                             f"Received: dynamic_growth_steps={dynamic_growth_steps!r}")
        super().__init__(0.0, name=name or "loss_scale_optimizer")
        self.inner_optimizer = inner_optimizer
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), int(dynamic_growth_steps)
        self.step_counter = variable(np.int64(0), name=f"{self.name}/step_counter")
        self.dynamic_scale = variable(np.float32(initial_scale), name=f"{self.name}/dynamic_scale")
        self.iterations = inner_optimizer.iterations

    @property
    def learning_rate(self) -> float:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.inner_optimizer.learning_rate = value

    def current_learning_rate(self):
        return self.inner_optimizer.current_learning_rate()

    def build(self, params: Sequence[SharedVariable]) -> None:
        self.inner_optimizer.build(params)
        self._params = list(self.inner_optimizer._params)

    def variables(self) -> list[SharedVariable]:
        """The step counter and the scale, then the inner optimizer's state."""
        return [self.step_counter, self.dynamic_scale, *self.inner_optimizer.variables()]

    def get_variable_values(self) -> list[np.ndarray]:
        return [self.step_counter.get_value(), self.dynamic_scale.get_value(),
                *self.inner_optimizer.get_variable_values()]

    def set_variable_values(self, values: Sequence[np.ndarray]) -> None:
        """The first two values are this optimizer's; the others go to the inner optimizer."""
        values = list(values)
        if len(values) < 2:
            raise ValueError(f"{self.name} expects its step counter and scale first; {len(values)} values given")
        self.inner_optimizer.set_variable_values(values[2:])  # checks its values first; ours follow
        self.step_counter.set_value(np.asarray(values[0], "int64"))
        self.dynamic_scale.set_value(np.asarray(values[1], "float32"))

    def finalize_variable_values(self, var_list: Sequence[SharedVariable]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def scale_loss(self, loss):
        """``loss * dynamic_scale``: the loss to differentiate."""
        return loss * th.cast(self.dynamic_scale, loss.dtype)

    def get_updates(self, params: Sequence[SharedVariable], grads: Sequence) -> list[tuple[SharedVariable, object]]:
        """The inner optimizer's updates of the unscaled gradients, kept only when all are finite;
        then the scale's own update."""
        given = [g for g in grads if g is not None]
        finite = th.all(th.stack([th.all(th.isfinite(g)) for g in given])) if given else th.constant(True)
        unscaled = [None if g is None else g / th.cast(self.dynamic_scale, g.dtype) for g in grads]
        inner = self.inner_optimizer.get_updates(params, unscaled)
        self._params = list(self.inner_optimizer._params)
        kept = [(state, th.where(finite, th.cast(value, state.dtype), state)) for state, value in inner]
        grow = th.eq(self.step_counter, self.dynamic_growth_steps - 1)
        counter = th.where(finite, th.where(grow, 0, self.step_counter + 1), 0)
        scale = th.where(finite, th.where(grow, self.dynamic_scale * 2.0, self.dynamic_scale),
                         self.dynamic_scale * 0.5)
        return [*kept, (self.step_counter, th.cast(counter, "int64")),
                (self.dynamic_scale, th.cast(scale, "float32"))]

    def get_config(self) -> dict:
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None) -> LossScaleOptimizer:
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)


# ----------------------------------------------------------------------------- lookup

_CLASSES = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Nadam, Adamax, Lamb, Lion, Ftrl, Adafactor,
            Muon, ScheduleFreeAdamW, LossScaleOptimizer, MultiOptimizer)
REGISTRY = Registry(
    "optimizer",
    Optimizer,
    {**{cls.__name__: cls for cls in _CLASSES}, **{cls.__name__.lower(): cls for cls in _CLASSES}},
    accepts_none=False,
    accepts_callables=False,
)
"""Optimizer classes by class name and lower-case name (``"adam"``, ``"rmsprop"``)."""


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``."""
    return REGISTRY.serialize(optimizer)


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Optimizer:
    """An optimizer from ``serialize``'s dict (state: see ``set_variable_values``)."""
    cls, settings = REGISTRY.resolve(config, custom_objects)
    return cls.from_config(settings, custom_objects)


def get(identifier, custom_objects: Mapping | None = None) -> Optimizer:
    """An optimizer from a name (default settings), a serialized dict, a class or an instance."""
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    return REGISTRY.get(identifier, custom_objects)

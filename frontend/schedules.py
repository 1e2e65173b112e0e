"""Learning-rate schedules (``keras.optimizers.schedules``): the rate as a function of the step.

A schedule is a symbolic function of an optimizer's int64 ``iterations``
counter, so the rate is computed inside the compiled training step; called
on a number it returns the rate as a NumPy scalar.  Formulas are Keras 3's.
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence

import theanine as th
from theanine.frontend.ops import eager
from theanine.frontend.registry import Configurable, Registry

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "InverseTimeDecay",
    "PolynomialDecay",
    "CosineDecayRestarts",
    "schedules",
    "SCHEDULE_REGISTRY",
]


class LearningRateSchedule(Configurable):
    """A learning rate as a symbolic function of the (int64) iteration counter.

    A subclass lists its constructor arguments in ``config_names`` so that it can be saved.
    Called on a number (``schedule(1000)``) it returns the rate as a NumPy scalar, as a
    Keras schedule called on a step returns a tensor: every subclass's ``__call__`` is
    made eager on numbers (``frontend.ops.eager``).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = eager(cls.__dict__["__call__"])

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__()")


def _float_step(step):
    """The iteration counter as a float32 scalar."""
    return th.cast(step, "float32")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is floored: the rate drops in steps.
    """

    config_names = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ):
        if decay_steps <= 0:
            raise ValueError(
                "ExponentialDecay expects a positive decay_steps. "
                f"Received: decay_steps={decay_steps!r}"
            )
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step):
        exponent = _float_step(step) / float(self.decay_steps)
        if self.staircase:
            exponent = th.floor(exponent)
        return self.initial_learning_rate * th.power(th.constant(self.decay_rate, "float32"), exponent)


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup to ``warmup_target``, then cosine decay to ``alpha`` times the peak.

    Decay: ``peak * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)`` with ``t``
    capped at ``decay_steps`` (counted after the warmup).
    """

    config_names = ("initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps")

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ):
        if decay_steps <= 0:
            raise ValueError(
                f"CosineDecay expects a positive decay_steps. Received: decay_steps={decay_steps!r}"
            )
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def _decay(self, step, peak: float):
        cosine = 0.5 * (1.0 + th.cos(math.pi * (step / float(self.decay_steps))))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _float_step(step)
        if self.warmup_target is None:
            return self._decay(
                th.minimum(step, float(self.decay_steps)), self.initial_learning_rate
            )
        step = th.minimum(step, float(self.decay_steps + self.warmup_steps))
        warm = self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
            step / float(max(self.warmup_steps, 1))
        )
        decayed = self._decay(step - float(self.warmup_steps), self.warmup_target)
        return th.where(step < float(self.warmup_steps), warm, decayed)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``step <= boundaries[i]`` (first match), then ``values[-1]``."""

    config_names = ("boundaries", "values", "name")

    def __init__(
        self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant"
    ):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "PiecewiseConstantDecay expects one more value than boundaries. "
                f"Received: {len(boundaries)} boundaries and {len(values)} values"
            )
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        rate = th.constant(self.values[-1], "float32")
        for boundary, value in reversed(list(zip(self.boundaries, self.values[:-1], strict=True))):
            rate = th.where(step <= boundary, value, rate)
        return rate


def _check_steps(schedule: str, name: str, steps) -> None:
    if not steps > 0:
        raise ValueError(f"{schedule} expects a positive {name}. Received: {name}={steps!r}")


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``staircase=True`` the ratio ``step / decay_steps`` is floored.
    """

    config_names = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ):
        _check_steps("InverseTimeDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step):
        ratio = _float_step(step) / float(self.decay_steps)
        if self.staircase:
            ratio = th.floor(ratio)
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, step capped at decay_steps.

    With ``cycle=True`` the step is not capped; ``decay_steps`` is instead stretched to the
    next multiple of itself at or above the step (Keras: 1 multiple at step 0).
    """

    config_names = (
        "initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name"
    )

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        _check_steps("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.end_learning_rate, self.power = float(end_learning_rate), float(power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        step = _float_step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * th.where(
                th.eq(step, 0.0), 1.0, th.ceil(step / decay_steps)
            )
        else:
            step = th.minimum(step, decay_steps)
        remaining = 1.0 - step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return span * th.power(remaining, th.constant(self.power, "float32")) + self.end_learning_rate


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter).

    Period ``i`` lasts ``first_decay_steps * t_mul ** i`` steps and peaks at
    ``initial_learning_rate * m_mul ** i``; within a period the rate follows
    ``peak * ((1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha)``.
    """

    config_names = ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha", "name")

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ):
        _check_steps("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        self.initial_learning_rate, self.first_decay_steps = float(initial_learning_rate), first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = float(t_mul), float(m_mul), float(alpha), name

    def __call__(self, step):
        fraction = _float_step(step) / float(self.first_decay_steps)
        if self.t_mul == 1.0:
            restart = th.floor(fraction)
            fraction = fraction - restart
        else:
            t_mul = th.constant(self.t_mul, "float32")
            restart = th.floor(th.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - th.power(t_mul, restart)) / (1.0 - self.t_mul)
            fraction = (fraction - done) / th.power(t_mul, restart)
        peak = th.power(th.constant(self.m_mul, "float32"), restart)
        cosine = 0.5 * peak * (1.0 + th.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)


_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        CosineDecay,
        PiecewiseConstantDecay,
        InverseTimeDecay,
        PolynomialDecay,
        CosineDecayRestarts,
    )
}
schedules = types.SimpleNamespace(LearningRateSchedule=LearningRateSchedule, **_SCHEDULES)
"""The schedules under Keras' spelling ``optimizers.schedules.ExponentialDecay``."""

SCHEDULE_REGISTRY = Registry("learning-rate schedule", LearningRateSchedule, _SCHEDULES)
"""Schedule classes by class name, for saving an optimizer with a schedule."""

"""Optimizers as symbolic update rules (``keras.optimizers``, Keras 3 formulas).

``opt.get_updates(params, grads)`` returns ``(shared_variable, new_value)``
pairs to compile into a training function with ``th.function(...,
updates=...)``.  The first call creates the optimizer's state ("slots",
one set per parameter, zero-initialised unless the rule says otherwise);
every call also increments ``opt.iterations``.  One training step does, as
Keras 3's ``Optimizer.apply``:

1. clip the gradients (``clipnorm`` per variable, ``global_clipnorm`` over
   all, or ``clipvalue`` elementwise; at most one of them);
2. decay the weights, ``w <- w - w * weight_decay * lr`` (decoupled);
3. apply the rule's ``update_step`` with the learning rate of the current
   iteration (before the increment) and the local step ``iterations + 1``;
4. with ``use_ema``, update each weight's exponential moving average
   ``a <- m a + (1 - m) w`` (``m = ema_momentum``; ``a = w`` at the first
   step) and, every ``ema_overwrite_frequency`` steps, set the weight to it.
   ``finalize_variable_values`` (called at the end of ``fit``) writes the
   averages into the weights; ``callbacks.SwapEMAWeights`` swaps them.

The learning rate is a float32 shared variable, so ``opt.learning_rate =
0.01`` takes effect in an already compiled function; a
``LearningRateSchedule`` instead makes it an expression of
``iterations``.  ``opt.variables()`` lists all state in a fixed order for
saving and ``opt.set_variable_values(arrays)`` restores it (before the
slots exist, the values wait and are applied when ``get_updates`` or
``build`` creates them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

import theanine as th
from theanine.frontend.call_context import current_call_context
from theanine.frontend.registry import Configurable
from theanine.frontend.schedules import SCHEDULE_REGISTRY, LearningRateSchedule
from theanine.frontend.variables import variable
from theanine.graph.shared import SharedVariable

__all__ = ["Optimizer", "adam_moments", "clip_by_norm", "clip_by_global_norm"]


# ----------------------------------------------------------------------------- clipping


def clip_by_norm(gradient, clipnorm: float):
    """``g * clipnorm / max(||g||, clipnorm)``: shrink a gradient whose L2 norm exceeds clipnorm."""
    norm = th.sqrt(th.sum(th.square(gradient)))
    return gradient * clipnorm / th.maximum(norm, clipnorm)


def clip_by_global_norm(gradients: Sequence, clipnorm: float) -> list:
    """Every gradient times ``clipnorm / max(global_norm, clipnorm)`` (norm over all of them)."""
    squares = [th.cast(th.sum(th.square(g)), "float32") for g in gradients]
    total = squares[0]
    for square in squares[1:]:
        total = total + square
    scale = clipnorm / th.maximum(th.sqrt(total), clipnorm)
    return [g * th.cast(scale, g.dtype) for g in gradients]


def _check_clip(name: str, value) -> float | None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be a positive float or None. Received: {name}={value!r}")
    return None if value is None else float(value)


# ----------------------------------------------------------------------------- optimizer base


class Optimizer(Configurable):
    """Base class. A subclass lists its per-variable ``slot_names`` and writes ``update_step``.

    ``update_step(gradient, variable, learning_rate, slots, shared)`` receives
    the gradient, the weight (already weight-decayed), the learning rate
    (all in the weight's dtype), the weight's slot shared variables by name
    and the new values of optimizer-wide state (``shared_state_updates``);
    it returns the weight's new value and the new value of each slot.
    A subclass lists its own constructor arguments in ``config_names``.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str | None = None,
    ):
        self.name = name or type(self).__name__.lower()
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = _check_ema(
            use_ema, ema_momentum, ema_overwrite_frequency
        )
        self.clipnorm = _check_clip("clipnorm", clipnorm)
        self.clipvalue = _check_clip("clipvalue", clipvalue)
        self.global_clipnorm = _check_clip("global_clipnorm", global_clipnorm)
        if sum(v is not None for v in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        if weight_decay is not None and weight_decay < 0:
            raise ValueError(
                f"weight_decay must be >= 0 or None. Received: weight_decay={weight_decay!r}"
            )
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.iterations = variable(np.int64(0), name=f"{self.name}/iterations")
        self._schedule = learning_rate if isinstance(learning_rate, LearningRateSchedule) else None
        self._learning_rate = (
            None
            if self._schedule
            else variable(_positive_rate(learning_rate), name=f"{self.name}/learning_rate")
        )
        self._params: list[SharedVariable] = []
        self._slots: list[dict[str, SharedVariable]] = []
        self._shared_state: dict[str, SharedVariable] = {}
        self._averages: list[SharedVariable] = []
        self._pending_values: list[np.ndarray] | None = None
        self._eager_steps: dict[tuple, th.Function] = {}

    # -- learning rate

    @property
    def learning_rate(self) -> float:
        """The learning rate of the current iteration, as a float."""
        return float(th.evaluate([self.current_learning_rate()], {})[0])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._schedule is not None:
            raise TypeError(
                f"{self.name} uses the schedule {type(self._schedule).__name__}; "
                "its learning rate cannot be set. "
                "Use a float learning rate to change it during training"
            )
        self._learning_rate.set_value(_positive_rate(value))

    def current_learning_rate(self):
        """The learning rate as float32: the shared variable, or the schedule at ``iterations``."""
        if self._schedule is not None:
            return th.cast(self._schedule(self.iterations), "float32")
        return self._learning_rate

    # -- state

    def build(self, params: Sequence[SharedVariable]) -> None:
        """Create the state of each parameter not seen before (idempotent, first-seen order)."""
        if not self._shared_state:
            self._shared_state = self.create_shared_state()
        for param in params:
            if not any(param is known for known in self._params):
                self._params.append(param)
                self._slots.append({slot: self._new_slot(param, slot) for slot in self.slots_for(param)})
                if self.use_ema:
                    self._averages.append(variable(np.zeros_like(param.get_value(borrow=True)),
                                                   name=f"{self.name}/{param.name or 'param'}/average",
                                                   shape=param.type.shape))
        if self._pending_values is not None:
            pending, self._pending_values = self._pending_values, None
            self.set_variable_values(pending)

    def slots_for(self, param: SharedVariable) -> tuple[str, ...]:
        """The slots ``param`` keeps: ``slot_names`` (Muon gives its Adam-stepped weights one more)."""
        return self.slot_names

    def decay_for(self, param: SharedVariable) -> float | None:
        """The weight decay of ``param``: ``weight_decay`` (Muon decays its Adam-stepped weights apart)."""
        return self.weight_decay

    def _new_slot(self, param: SharedVariable, slot: str) -> SharedVariable:
        param_value = param.get_value(borrow=True)
        value = self.initial_slot_value(slot, param_value)
        shape = param.type.shape if value.shape == param_value.shape else value.shape
        return variable(value, name=f"{self.name}/{param.name or 'param'}/{slot}", shape=shape)

    def initial_slot_value(self, slot: str, param_value: np.ndarray) -> np.ndarray:
        """The starting value of a slot (zeros; Adagrad overrides; Adafactor's have other shapes)."""
        return np.zeros_like(param_value)

    def create_shared_state(self) -> dict[str, SharedVariable]:
        """Optimizer-wide state besides ``iterations`` (none by default; Nadam keeps a product)."""
        return {}

    def variables(self) -> list[SharedVariable]:
        """All state, in order: iterations, learning rate, shared state, each parameter's slots, then
        the moving averages (``use_ema``)."""
        rate = [] if self._learning_rate is None else [self._learning_rate]
        slots = [variable for slots in self._slots for variable in slots.values()]
        return [self.iterations, *rate, *self._shared_state.values(), *slots, *self._averages]

    def get_variable_values(self) -> list[np.ndarray]:
        """Copies of the values of ``variables()`` (or restored values still waiting for build)."""
        if self._pending_values is not None:
            return [np.array(value) for value in self._pending_values]
        return [variable.get_value() for variable in self.variables()]

    def set_variable_values(self, values: Sequence[np.ndarray]) -> None:
        """Restore ``variables()`` from arrays saved by ``get_variable_values``.

        Before ``build`` only the iteration count and learning rate exist, so
        the values are kept and applied when the slots are created.
        """
        values = list(values)
        current = self.variables()
        if not self._params and len(values) > len(current):
            self._pending_values = values
            return
        if len(values) != len(current):
            raise ValueError(
                f"{self.name} has {len(current)} state variables ({[v.name for v in current]}) "
                f"but {len(values)} values were given"
            )
        arrays = [np.asarray(value, dtype=state.dtype) for state, value in zip(current, values, strict=True)]
        for state, array in zip(current, arrays, strict=True):  # all checked before any is assigned
            shape = state.get_value(borrow=True).shape
            if array.shape != shape:
                raise ValueError(f"{self.name}: state variable {state.name!r} has shape {shape}, "
                                 f"the value given has shape {array.shape}")
        for state, array in zip(current, arrays, strict=True):
            state.set_value(array)

    # -- updates

    def get_updates(
        self, params: Sequence[SharedVariable], grads: Sequence
    ) -> list[tuple[SharedVariable, object]]:
        """The update pairs of one training step (including ``iterations + 1``)."""
        if len(params) != len(grads):
            raise ValueError(
                f"{self.name}.get_updates: {len(params)} params but {len(grads)} grads"
            )
        kept = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        if params and not kept:
            raise ValueError(f"{self.name}.get_updates: no gradients provided for any variable")
        params = [p for p, _ in kept]
        self.build(params)
        gradients = self._clip([th.cast(g, p.dtype) for p, g in kept])
        shared = self.shared_state_updates()
        updates = [(self._shared_state[name], value) for name, value in shared.items()]
        rate = self.current_learning_rate()
        for param, gradient in zip(params, gradients, strict=True):
            updates += self._param_updates(param, gradient, th.cast(rate, param.dtype), shared)
        updates.append((self.iterations, self.iterations + 1))
        return updates

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras' ``optimizer.apply_gradients(zip(grads, vars))``: one step (see ``apply``)."""
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(
                    f"{self.name}.apply_gradients expects (gradient, variable) pairs. "
                    f"Received: {pair!r}"
                )
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads: Sequence, trainable_variables: Sequence | None = None) -> None:
        """One optimizer step on ``trainable_variables`` (default: those of the last build).

        Inside a traced step (a custom ``train_step``) with symbolic
        gradients, the updates join the step and are written after it ran;
        outside one, with gradient arrays, they are applied now (compiled
        once per variables and gradient types).
        """
        params = list(self._params if trainable_variables is None else trainable_variables)
        grads = list(grads)
        for param in params:
            if not isinstance(param, SharedVariable):
                raise TypeError(
                    f"{self.name}.apply updates variables (a model's trainable_weights). "
                    f"Received: {type(param).__name__}"
                )
        context = current_call_context()
        if context is not None:
            context.updates.extend(self.get_updates(params, grads))
            return
        self._apply_now(params, grads)

    def _apply_now(self, params: list, grads: list) -> None:
        """Apply gradient arrays now: one compiled update per variables and gradient shapes."""
        if len(params) != len(grads):
            raise ValueError(f"{self.name}.apply: {len(grads)} gradients for {len(params)} variables")
        arrays = [None if g is None else np.asarray(g, p.dtype) for p, g in zip(params, grads, strict=True)]
        key = (tuple(id(p) for p in params), tuple(None if a is None else a.shape for a in arrays))
        functions = self._eager_steps
        if key not in functions:
            placeholders = [None if a is None else th.tensor(dtype=p.dtype, shape=a.shape)
                            for p, a in zip(params, arrays, strict=True)]
            updates = self.get_updates(params, placeholders)
            functions[key] = th.function([p for p in placeholders if p is not None], [], updates=updates)
        functions[key](*[a for a in arrays if a is not None])

    def _param_updates(self, param, gradient, rate, shared) -> list[tuple]:
        index = next(i for i, p in enumerate(self._params) if p is param)
        slots = self._slots[index]
        decay = self.decay_for(param)
        decayed = param if not decay else param - param * (decay * rate)
        new_param, new_slots = self.update_step(gradient, decayed, rate, slots, shared)
        new_param = th.cast(new_param, param.dtype)
        averages = []
        if self.use_ema:
            new_param, average = self._moving_average(self._averages[index], new_param)
            averages = [(self._averages[index], average)]
        pairs = [(param, new_param), *averages]
        return pairs + [
            (slots[name], th.cast(value, slots[name].dtype)) for name, value in new_slots.items()
        ]

    def _moving_average(self, average, new_param) -> tuple:
        """Keras' EMA of the stepped weight (the weight itself at the first step), and the weight,
        replaced by the average every ``ema_overwrite_frequency`` steps."""
        momentum = th.cast(th.neq(self.iterations, 0), new_param.dtype) * self.ema_momentum
        new_average = momentum * average + (1.0 - momentum) * new_param
        if self.ema_overwrite_frequency:
            overwrite = th.eq((self.iterations + 1) % self.ema_overwrite_frequency, 0)
            new_param = th.where(overwrite, new_average, new_param)
        return new_param, new_average

    def finalize_variable_values(self, var_list: Sequence[SharedVariable]) -> None:
        """With ``use_ema``, set the weights to their moving averages (Keras does at the end of fit)."""
        if self.use_ema:
            for weight, average in self.ema_pairs(var_list):
                weight.set_value(average.get_value())

    def ema_pairs(self, var_list: Sequence[SharedVariable] | None = None) -> list[tuple]:
        """``(weight, moving average)`` of each weight of ``var_list`` this optimizer averages."""
        if not self.use_ema:
            raise ValueError(f"{self.name} keeps no moving averages: it was made with use_ema=False")
        weights = self._params if var_list is None else var_list
        found = {id(p): a for p, a in zip(self._params, self._averages, strict=True)}
        return [(w, found[id(w)]) for w in weights if id(w) in found]

    def _clip(self, gradients: list) -> list:
        if self.clipnorm is not None:
            return [clip_by_norm(g, self.clipnorm) for g in gradients]
        if self.global_clipnorm is not None and gradients:
            return clip_by_global_norm(gradients, self.global_clipnorm)
        if self.clipvalue is not None:
            return [th.clip(g, -self.clipvalue, self.clipvalue) for g in gradients]
        return gradients

    def shared_state_updates(self) -> dict:
        """New values of the optimizer-wide state for this step, also passed to ``update_step``."""
        return {}

    def local_step(self, dtype: str):
        """``iterations + 1`` (the 1-based number of this step) in ``dtype``."""
        return th.cast(self.iterations + 1, dtype)

    def update_step(self, gradient, variable, learning_rate, slots, shared):
        raise NotImplementedError(f"{type(self).__name__} must implement update_step()")

    def scale_loss(self, loss):
        """The loss the gradients are taken of (Keras 3's hook; unscaled here, scaled by
        ``LossScaleOptimizer``)."""
        return loss

    # -- config

    def get_config(self) -> dict:
        """The common settings, then the subclass's ``config_names``; a schedule is serialized."""
        rate = SCHEDULE_REGISTRY.serialize(self._schedule) if self._schedule else self.learning_rate
        return {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            **super().get_config(),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None) -> Optimizer:
        """A new optimizer from ``get_config``'s dict (a schedule class may come from custom_objects)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = SCHEDULE_REGISTRY.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)


def adam_moments(gradient, slots, beta_1: float, beta_2: float) -> tuple:
    """Adam's moving averages of the gradient and of its square (Adam, Nadam and Lamb share them)."""
    m = slots["momentum"] + (gradient - slots["momentum"]) * (1.0 - beta_1)
    v = slots["velocity"] + (th.square(gradient) - slots["velocity"]) * (1.0 - beta_2)
    return m, v


def _check_ema(use_ema, momentum, frequency) -> tuple:
    """Keras' checks of the EMA options (made only when ``use_ema`` is set, as Keras)."""
    if use_ema:
        if not 0 <= momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={momentum}")
        if frequency and (isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1):
            raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. "
                             f"Received: ema_overwrite_frequency={frequency}")
    return bool(use_ema), float(momentum), None if frequency is None else int(frequency)


def _positive_rate(value) -> np.ndarray:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise ValueError(
            "learning_rate must be a non-negative float or a schedule. "
            f"Received: learning_rate={value!r}"
        )
    return np.asarray(value, dtype="float32")

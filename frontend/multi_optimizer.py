"""Keras' ``MultiOptimizer`` and ``OptimizerMap``: different optimizers for different weights.

``OptimizerMap(default_optimizer, {pattern: optimizer})`` picks a weight's
optimizer by its ``path`` ("dense/kernel"): an exact key first, else the
one pattern that ``re.fullmatch``-es it (two raise), else the default.
``MultiOptimizer(optimizer_map)`` (an ``OptimizerMap`` or any callable from
a weight to an optimizer) hands each weight and its gradient to that
optimizer: each sub-optimizer builds its own slots, clips and decays as it
is configured, and advances its own ``iterations``; the wrapper counts its
own steps.  Its state is its step count, then each sub-optimizer's state in
the order they were first used, so a saved model restores it.  As in
Keras, it has no single learning rate (reading one raises).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence

from theanine.frontend.optimizer_base import Optimizer
from theanine.graph.shared import SharedVariable

__all__ = ["MultiOptimizer", "OptimizerMap"]


def _check_inner(optimizer, what: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{what} must be an Optimizer instance. Received: {optimizer!r}")
    if isinstance(optimizer, MultiOptimizer):
        raise ValueError(f"{what} cannot be a MultiOptimizer")
    if type(optimizer).__name__ == "LossScaleOptimizer":
        raise ValueError(f"{what} cannot be a LossScaleOptimizer")
    return optimizer


class OptimizerMap(MutableMapping):
    """Weight path (or ``re.fullmatch`` pattern) -> optimizer, with a default for the rest."""

    def __init__(self, default_optimizer, optimizer_map: Mapping | None = None):
        self.default_optimizer = _check_inner(default_optimizer, "default_optimizer")
        if optimizer_map is not None and not isinstance(optimizer_map, Mapping):
            raise TypeError(f"optimizer_map must be a dict. Received: {optimizer_map!r}")
        self._map: dict[str, Optimizer] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._map:
            return self._map[key]
        matches = [pattern for pattern in self._map if re.fullmatch(pattern, key)]
        if len(matches) > 1:
            raise ValueError(f"OptimizerMap: the patterns {matches} all match {key!r}; one optimizer per weight")
        return self._map[matches[0]] if matches else self.default_optimizer

    def __setitem__(self, key: str, optimizer) -> None:
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap keys are weight paths or patterns (str). Received: {key!r}")
        if key in self._map:
            raise ValueError(f"{key!r} already has an optimizer in this OptimizerMap")
        self._map[key] = _check_inner(optimizer, f"the optimizer for {key!r}")

    def __delitem__(self, key: str) -> None:
        del self._map[key]

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self):
        return iter(self._map)

    def __call__(self, weight) -> Optimizer:
        return self[weight.path]

    def get_config(self) -> dict:
        from theanine.frontend.optimizers import serialize

        return {"default_optimizer": serialize(self.default_optimizer),
                "optimizer_map": {key: serialize(opt) for key, opt in self._map.items()}}

    @classmethod
    def from_config(cls, config: Mapping, custom_objects: Mapping | None = None) -> OptimizerMap:
        from theanine.frontend.optimizers import deserialize

        return cls(deserialize(config["default_optimizer"], custom_objects),
                   {key: deserialize(opt, custom_objects) for key, opt in config["optimizer_map"].items()})


class MultiOptimizer(Optimizer):
    """Delegates each weight to the optimizer ``optimizer_map(weight)`` picks (module docstring)."""

    def __init__(self, optimizer_map: OptimizerMap | Callable, loss_scale_factor=None, name: str | None = None):
        if not callable(optimizer_map):
            raise TypeError("MultiOptimizer takes an OptimizerMap or a callable from a weight to its optimizer. "
                            f"Received: {optimizer_map!r}")
        if loss_scale_factor is not None:
            raise ValueError("MultiOptimizer: theanine's optimizers take no loss_scale_factor (wrap the model's "
                             f"optimizer in a LossScaleOptimizer instead). Received: {loss_scale_factor!r}")
        super().__init__(0.0, name=name or "multi_optimizer")
        self.optimizer_map = optimizer_map
        self.optimizers: list[Optimizer] = []
        if isinstance(optimizer_map, OptimizerMap):
            for optimizer in [*optimizer_map.values(), optimizer_map.default_optimizer]:
                self._register(optimizer)
        self._owner: dict[int, Optimizer] = {}

    def _register(self, optimizer: Optimizer) -> Optimizer:
        if not any(optimizer is known for known in self.optimizers):
            self.optimizers.append(_check_inner(optimizer, "the optimizer a MultiOptimizer's map returns"))
        return optimizer

    def _optimizer_of(self, weight: SharedVariable) -> Optimizer:
        if id(weight) not in self._owner:
            self._owner[id(weight)] = self._register(self.optimizer_map(weight))
        return self._owner[id(weight)]

    @property
    def learning_rate(self) -> float:
        raise AttributeError("a MultiOptimizer has no single learning rate: read it on each of .optimizers")

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        raise AttributeError("a MultiOptimizer has no single learning rate: set it on each of .optimizers")

    def build(self, params: Sequence[SharedVariable]) -> None:
        groups = self._groups([(p, None) for p in params])
        for optimizer, pairs in groups:
            optimizer.build([p for p, _ in pairs])
        for param in params:
            if not any(param is known for known in self._params):
                self._params.append(param)
        if self._pending_values is not None:
            pending, self._pending_values = self._pending_values, None
            self.set_variable_values(pending)

    def _groups(self, pairs) -> list[tuple[Optimizer, list]]:
        """``(param, grad)`` pairs grouped by optimizer, in ``self.optimizers`` order."""
        chosen = [(self._optimizer_of(p), (p, g)) for p, g in pairs]
        return [(opt, [pair for owner, pair in chosen if owner is opt]) for opt in self.optimizers
                if any(owner is opt for owner, _ in chosen)]

    def variables(self) -> list[SharedVariable]:
        """The step count, then each sub-optimizer's state."""
        return [self.iterations, *(v for optimizer in self.optimizers for v in optimizer.variables())]

    def get_updates(self, params: Sequence[SharedVariable], grads: Sequence) -> list[tuple]:
        if len(params) != len(grads):
            raise ValueError(f"{self.name}.get_updates: {len(params)} params but {len(grads)} grads")
        kept = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        if params and not kept:
            raise ValueError(f"{self.name}.get_updates: no gradients provided for any variable")
        self.build([p for p, _ in kept])
        updates = []
        for optimizer, pairs in self._groups(kept):
            updates += optimizer.get_updates([p for p, _ in pairs], [g for _, g in pairs])
        return [*updates, (self.iterations, self.iterations + 1)]

    def finalize_variable_values(self, var_list: Sequence[SharedVariable]) -> None:
        for optimizer, pairs in self._groups([(v, None) for v in var_list]):
            optimizer.finalize_variable_values([p for p, _ in pairs])

    def ema_pairs(self, var_list: Sequence[SharedVariable] | None = None) -> list[tuple]:
        weights = self._params if var_list is None else list(var_list)
        return [pair for optimizer, pairs in self._groups([(v, None) for v in weights])
                for pair in optimizer.ema_pairs([p for p, _ in pairs])]

    def get_config(self) -> dict:
        if not isinstance(self.optimizer_map, OptimizerMap):
            raise ValueError(f"{self.name}: a MultiOptimizer built from a function cannot be saved; "
                             "use an OptimizerMap")
        return {"name": self.name, "optimizer_map": self.optimizer_map.get_config()}

    @classmethod
    def from_config(cls, config: Mapping, custom_objects: Mapping | None = None) -> MultiOptimizer:
        config = dict(config)
        optimizer_map = OptimizerMap.from_config(config.pop("optimizer_map"), custom_objects)
        return cls(optimizer_map, **config)

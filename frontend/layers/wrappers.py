"""Layer wrappers: ``Wrapper`` (Keras' base of layers that wrap one layer), ``Bidirectional`` (a
recurrent layer run both ways), ``TimeDistributed`` (a layer applied to every time step) and
``Masking`` (mark padded steps).

Bidirectional follows Keras 3: the forward layer is the given one (renamed
``forward_<name>``), the backward one a copy from its config with
``go_backwards`` flipped (``backward_<name>``) unless ``backward_layer`` is
given; both get ``zero_output_for_mask = return_sequences``.  The backward
sequence is flipped back to input order before merging with ``merge_mode``
"concat" (last axis), "sum", "mul", "ave", or None (a list of both).  With
``return_state`` the output is ``[merged, *forward states, *backward
states]``; ``initial_state`` holds the forward states then the backward
ones.  Weights: the forward layer's, then the backward layer's.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.layers.base import Layer, deserialize_layer, register_layer, serialize_layer
from theanine.frontend.layers.recurrent import _state_sizes

__all__ = ["Wrapper", "Bidirectional", "TimeDistributed", "Masking"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Wrapper(Layer):
    """Keras' ``Wrapper``: a layer that holds another one as ``self.layer`` (its weights are the
    wrapper's), builds it on the wrapper's input shape and saves it in its config as ``"layer"``.
    Subclasses write ``call``."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__} wraps a layer. Received: layer={layer!r}")
        self.layer = layer

    def build(self, input_shape=None) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict) -> Wrapper:
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        return cls(**config)


@register_layer
class Bidirectional(Wrapper):
    """Run a recurrent layer forwards and backwards and merge the two; see the module docstring."""

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(layer, **kwargs)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {_MERGE_MODES}. Received: {merge_mode!r}")
        if not hasattr(layer, "go_backwards") or not hasattr(layer, "return_sequences"):
            raise ValueError(f"Bidirectional wraps a recurrent layer (RNN, LSTM, GRU, ...). Received: {layer!r}")
        self.merge_mode = merge_mode
        self._backward_given = backward_layer is not None
        if backward_layer is None:
            config = {**layer.get_config(), "go_backwards": not layer.go_backwards}
            backward_layer = type(layer).from_config(config)
        _check_pair(layer, backward_layer)
        layer._rename(f"forward_{layer.name}")
        backward_layer._rename(f"backward_{backward_layer.name.removeprefix('backward_')}")
        self.forward_layer, self.backward_layer = layer, backward_layer
        for part in (layer, backward_layer):
            part.zero_output_for_mask = part.return_sequences
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self.stateful = layer.stateful
        self._initial_weights = weights

    @property
    def states(self):
        """A stateful wrapper's state variables, the forward layer's then the backward one's (None
        before they exist)."""
        if self.forward_layer.states and self.backward_layer.states:
            return tuple(self.forward_layer.states + self.backward_layer.states)
        return None

    def reset_state(self) -> None:
        """Zero the states of both stateful layers."""
        if not self.stateful:
            raise AttributeError(f"layer {self.name!r}: reset_state() needs a stateful layer (stateful=True)")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs, *initial_state]
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        for part in (self.forward_layer, self.backward_layer):
            part.build(shape)
            part.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs, mask=None, training=None):
        x, states = (inputs[0], list(inputs[1:])) if isinstance(inputs, list) else (inputs, [])
        half = len(states) // 2
        forward = self._run(self.forward_layer, x, states[:half], mask, training)
        backward = self._run(self.backward_layer, x, states[half:], mask, training)
        y, y_states = (forward[0], forward[1:]) if self.return_state else (forward, [])
        y_rev, rev_states = (backward[0], backward[1:]) if self.return_state else (backward, [])
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        merged = self._merge(y, y_rev)
        if not self.return_state:
            return merged
        head = list(merged) if self.merge_mode is None else [merged]
        return head + list(y_states) + list(rev_states)

    @staticmethod
    def _run(layer, x, states, mask, training):
        inputs = [x, *states] if states else x
        return layer.call(inputs, mask=mask, training=training)

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return th.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        heads = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            states = len(_state_sizes(self.forward_layer.cell)) + len(_state_sizes(self.backward_layer.cell))
            return heads + [None] * states
        return heads if self.merge_mode is None else output_mask

    def get_config(self) -> dict:
        config = {**super().get_config(), "merge_mode": self.merge_mode}  # "layer": the forward layer
        if self._backward_given:
            config["backward_layer"] = serialize_layer(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"])
        return cls(**config)


def _check_pair(forward, backward) -> None:
    """Keras' checks: the two layers read in opposite directions and agree on the rest."""
    if forward.go_backwards == backward.go_backwards:
        raise ValueError(
            "Bidirectional: the forward and backward layers must have different go_backwards. Received: "
            f"forward_layer.go_backwards={forward.go_backwards}, backward_layer.go_backwards={backward.go_backwards}"
        )
    for attribute in ("stateful", "return_sequences", "return_state"):
        ours, theirs = getattr(forward, attribute), getattr(backward, attribute)
        if ours != theirs:
            raise ValueError(f"Bidirectional: the forward and backward layers must agree on {attribute}. "
                             f"Received: {ours} for the forward layer and {theirs} for the backward layer")


@register_layer
class TimeDistributed(Wrapper):
    """Apply ``layer`` to every time step of ``(batch, time, ...)`` inputs (one call on ``batch * time`` rows)."""

    supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed expects inputs of rank >= 3 (batch, time, ...). Received: input_shape={input_shape}"
            )
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
            self.layer.built = True

    def call(self, inputs, training=None, mask=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        rows = th.reshape(inputs, (-1, *[inputs.shape[a] if d is None else d
                                           for a, d in enumerate(inputs.type.shape) if a >= 2]))
        kwargs = {"training": training}
        if mask is not None and self.layer._call_accepts_mask:  # each row gets its step's mask, as in Keras
            kwargs["mask"] = th.reshape(self._checked_mask(inputs, mask), (-1, *[mask.shape[a] for a in
                                                                                  range(2, mask.ndim)]))
        outputs = self.layer(rows, **kwargs)
        rest = [outputs.shape[a] if d is None else d for a, d in enumerate(outputs.type.shape) if a >= 1]
        static_steps = inputs.type.shape[1]
        return th.reshape(outputs, (batch, steps if static_steps is None else static_steps, *rest))

    def _checked_mask(self, inputs, mask):
        """``mask`` once its static shape is known to fit ``(batch, time)`` of ``inputs``."""
        shape, given = inputs.type.shape, mask.type.shape
        if len(given) < 2 or any(a is not None and b is not None and a != b
                                 for a, b in zip(shape[:2], given[:2], strict=True)):
            raise ValueError(f"layer {self.name!r} (TimeDistributed): the mask must have the inputs' (batch, time) "
                             f"axes first. Received: mask shape {given}, input shape {shape}")
        return mask



@register_layer
class Masking(Layer):
    """Mark time steps whose features all equal ``mask_value`` as padding (zeroed, and masked downstream)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def call(self, inputs):
        keep = th.any(th.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * th.cast(keep, inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return th.any(th.not_equal(inputs, self.mask_value), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}

"""Recurrent cells: one step of SimpleRNN, LSTM and GRU, with Keras 3's weights and equations.

A cell is a layer with ``state_size`` and ``call(inputs, states, training)
-> (output, new_states)`` for one time step; ``RNN(cell)`` (recurrent.py)
loops it with ``th.scan``.  Weights and gate order are Keras', so arrays
from a Keras model load with ``set_weights`` and give Keras' outputs:

- SimpleRNNCell: ``kernel (input, units)``, ``recurrent_kernel (units, units)``,
  ``bias (units,)``; ``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``.
- LSTMCell: ``kernel (input, 4 units)``, ``recurrent_kernel (units, 4 units)``,
  ``bias (4 units,)``, gates in the order i, f, c, o; ``unit_forget_bias``
  starts the forget gate's bias at 1.
- GRUCell: ``kernel (input, 3 units)``, ``recurrent_kernel (units, 3 units)``,
  gates z, r, h; with ``reset_after=True`` (Keras 3's default) ``bias`` is
  ``(2, 3 units)`` (input bias, recurrent bias) and the reset gate multiplies
  the recurrent product, else ``bias`` is ``(3 units,)`` and the reset gate
  multiplies the previous state before its product.

Dropout, as in Keras' ``DropoutRNNCell``: one mask for the inputs
(``dropout``) and one for the previous state (``recurrent_dropout``), each
drawn once per layer call (not per step) and scaled by ``1 / (1 - rate)``;
only in training.  ``RNN`` asks the cell to draw them before the loop
(``prepare_dropout``), so inside the loop they are loop invariants.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import activations, constraints, initializers, regularizers, seeding
from theanine.frontend.layers.base import Layer, deserialize_layer, get_custom_objects, register_layer, serialize_layer
from theanine.frontend.layers.core import _last_dim, _positive_int

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "cell_output_size"]

_WEIGHT_OPTIONS = ("kernel", "recurrent", "bias")


def _rate(value, what: str) -> float:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{what} must be in [0, 1). Received: {what}={value!r}")
    return float(value)


class _Cell(Layer):
    """What the three cells share: units, activations, weight options, dropout masks, config."""

    gates = 1
    output_is_state = True

    def __init__(
        self,
        units: int,
        activation="tanh",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        custom = get_custom_objects()
        self.units = _positive_int(units, "units")
        self.activation = activations.get(activation, custom)
        self.use_bias = bool(use_bias)
        for part, init, reg, cons in zip(
            _WEIGHT_OPTIONS,
            (kernel_initializer, recurrent_initializer, bias_initializer),
            (kernel_regularizer, recurrent_regularizer, bias_regularizer),
            (kernel_constraint, recurrent_constraint, bias_constraint),
            strict=True,
        ):
            setattr(self, f"{part}_initializer", initializers.get(init, custom))
            setattr(self, f"{part}_regularizer", regularizers.get(reg, custom))
            setattr(self, f"{part}_constraint", constraints.get(cons, custom))
        self.dropout = _rate(dropout, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
        self.seed = int(seeding.next_seed() if seed is None else seed)
        self._explicit_seed = seed is not None
        self.stream = th.random.RandomStream(self.seed)
        self._masks: tuple = (None, None)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def get_initial_state(self, batch_size=None) -> list:
        """Zero states for ``batch_size`` rows (an int or a symbolic scalar), as Keras' cells give."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [th.zeros((batch_size, *size) if isinstance(size, tuple) else (batch_size, size), dtype=self.dtype)
                for size in sizes]

    def _weight(self, part: str, shape, name: str, initializer=None):
        return self.add_weight(
            shape=shape,
            initializer=initializer or getattr(self, f"{part}_initializer"),
            regularizer=getattr(self, f"{part}_regularizer"),
            constraint=getattr(self, f"{part}_constraint"),
            name=name,
        )

    def build(self, input_shape) -> None:
        width = self.gates * self.units
        self.kernel = self._weight("kernel", (_last_dim(self, input_shape), width), "kernel")
        self.recurrent_kernel = self._weight("recurrent", (self.units, width), "recurrent_kernel")
        self.bias = self._weight("bias", self._bias_shape(), "bias", self._bias_initializer()) if self.use_bias \
            else None

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return None

    # -- dropout masks, drawn once per layer call --------------------------------------------

    def prepare_dropout(self, inputs, state, training) -> None:
        """Draw this call's masks for step inputs like ``inputs`` and states like ``state``."""
        self._masks = (
            self._mask_like(inputs, self.dropout) if training else None,
            self._mask_like(state, self.recurrent_dropout) if training else None,
        )

    def reset_dropout(self) -> None:
        self._masks = (None, None)

    def _mask_like(self, tensor, rate: float):
        if rate == 0.0:
            return None
        keep = 1.0 - rate
        draws = self.stream.uniform(size=tensor.shape, dtype=tensor.dtype)
        return th.cast(th.less(draws, keep), tensor.dtype) / np.asarray(keep, dtype=tensor.dtype)

    def _dropped(self, inputs, h_prev):
        input_mask, state_mask = self._masks
        return (inputs if input_mask is None else inputs * input_mask,
                h_prev if state_mask is None else h_prev * state_mask)

    # -- config --------------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                  "use_bias": self.use_bias}
        for part, key in zip(_WEIGHT_OPTIONS, ("kernel", "recurrent", "bias"), strict=True):
            config[f"{key}_initializer"] = initializers.serialize(getattr(self, f"{part}_initializer"))
            config[f"{key}_regularizer"] = regularizers.serialize(getattr(self, f"{part}_regularizer"))
            config[f"{key}_constraint"] = constraints.serialize(getattr(self, f"{part}_constraint"))
        config.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout)
        if self._explicit_seed:
            config["seed"] = self.seed
        return config


@register_layer
class SimpleRNNCell(_Cell):
    """``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``; the output is h."""

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_prev = self._dropped(inputs, h_prev)
        h = th.matmul(inputs, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        h = self.activation(h + th.matmul(h_prev, self.recurrent_kernel))
        return h, [h]


class _GatedCell(_Cell):
    """A cell with a recurrent activation for its gates (sigmoid by default, as in Keras 3).

    ``implementation`` (1 or 2) is Keras' choice between one product per gate and one
    product for all gates; both compute the same values, and theanine's rewrites pick how
    the products run, so it is kept for compatibility only.
    """

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", implementation: int = 2,
                 **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation, get_custom_objects())
        if implementation not in (1, 2):
            raise ValueError(f"{type(self).__name__}: implementation must be 1 or 2. "
                             f"Received: implementation={implementation!r}")
        self.implementation = int(implementation)

    def get_config(self) -> dict:
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "implementation": self.implementation}

    def _gate_slices(self, z, count: int) -> list:
        u = self.units
        return [z[:, k * u:(k + 1) * u] for k in range(count)]


@register_layer
class LSTMCell(_GatedCell):
    """Keras' LSTM step; gates i, f, c, o (see the module docstring). States: ``[h, c]``."""

    gates = 4

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return None
        base, units = self.bias_initializer, self.units

        def forget_gate_at_one(shape, dtype=None):
            parts = [base((units,), dtype), np.ones((units,), dtype), base((2 * units,), dtype)]
            return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])

        return forget_gate_at_one

    def _preactivation(self, inputs, h_prev):
        """All four gates' inputs before their activations, ``(batch, 4 units)``."""
        z = th.matmul(inputs, self.kernel) + th.matmul(h_prev, self.recurrent_kernel)
        return z if self.bias is None else z + self.bias

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states
        inputs, h_dropped = self._dropped(inputs, h_prev)
        z_i, z_f, z_c, z_o = self._gate_slices(self._preactivation(inputs, h_dropped), 4)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register_layer
class GRUCell(_GatedCell):
    """Keras' GRU step; gates z, r, h; ``reset_after`` as in Keras 3 (see the module docstring)."""

    gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_dropped = self._dropped(inputs, h_prev)  # the mix below uses the undropped state, as Keras
        input_bias, recurrent_bias = self._biases()
        x = th.matmul(inputs, self.kernel)
        if input_bias is not None:
            x = x + input_bias
        x_z, x_r, x_h = self._gate_slices(x, 3)
        u = self.units
        if self.reset_after:
            inner = th.matmul(h_dropped, self.recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = th.matmul(h_dropped, self.recurrent_kernel[:, :2 * u])
        r_z, r_r = inner[:, :u], inner[:, u:2 * u]
        z = self.recurrent_activation(x_z + r_z)
        r = self.recurrent_activation(x_r + r_r)
        r_h = r * inner[:, 2 * u:] if self.reset_after else th.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * u:])
        hh = self.activation(x_h + r_h)
        h = z * h_prev + (1.0 - z) * hh
        return h, [h]

    def _biases(self):
        if self.bias is None:
            return None, None
        if self.reset_after:
            return self.bias[0], self.bias[1]
        return self.bias, None

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}


def _cell_state_sizes(cell) -> list:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def cell_output_size(cell):
    """The size of a cell's output: its ``output_size``, else its first state's (Keras' rule for
    custom cells that define ``state_size`` only)."""
    size = getattr(cell, "output_size", None)
    return _cell_state_sizes(cell)[0] if size is None else size


@register_layer
class StackedRNNCells(Layer):
    """Cells run one after another within each time step (cell k's output is cell k + 1's input).

    ``RNN([cell_1, cell_2])`` wraps its list in one.  The states are every
    cell's states in order, flat; the output is the last cell's.
    """

    output_is_state = False

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError("StackedRNNCells needs at least one cell")
        for cell in cells:
            if not hasattr(cell, "state_size") or not callable(getattr(cell, "call", None)):
                raise ValueError(f"StackedRNNCells: a cell must have state_size and call(inputs, states). "
                                 f"Received: {cell!r}")
        self.cells = cells

    @property
    def state_size(self) -> list:
        return [size for cell in self.cells for size in _cell_state_sizes(cell)]

    @property
    def output_size(self):
        return cell_output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None) -> list:
        """Each cell's initial states in order (its ``get_initial_state``, else zeros)."""
        states = []
        for cell in self.cells:
            make = getattr(cell, "get_initial_state", None)
            if make is None:
                states += [th.zeros((batch_size, size), dtype=self.dtype) for size in _cell_state_sizes(cell)]
            else:
                made = make(batch_size=batch_size)
                states += list(made) if isinstance(made, (list, tuple)) else [made]
        return states

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for cell in self.cells:
            if not cell.built:
                cell.build(shape)
                cell.built = True
            shape = (shape[0], cell_output_size(cell))

    def _parts(self, values: list) -> list[list]:
        """``values`` (one per state) cut into each cell's share."""
        parts, start = [], 0
        for cell in self.cells:
            count = len(_cell_state_sizes(cell))
            parts.append(list(values[start:start + count]))
            start += count
        return parts

    def call(self, inputs, states, training=None):
        new_states = []
        for cell, cell_states in zip(self.cells, self._parts(list(states)), strict=True):
            kwargs = {"training": training} if getattr(cell, "_call_accepts_training", False) else {}
            inputs, produced = cell.call(inputs, cell_states, **kwargs)
            new_states += list(produced) if isinstance(produced, (list, tuple)) else [produced]
        return inputs, new_states

    def prepare_dropout(self, inputs, state, training) -> None:
        """Each cell draws masks shaped like its own step input and first state."""
        batch = inputs.shape[0]
        for cell in self.cells:
            prepare = getattr(cell, "prepare_dropout", None)
            size = _cell_state_sizes(cell)[0]
            if prepare is not None:
                prepare(inputs, th.zeros((batch, size), dtype=inputs.dtype), training)
            inputs = th.zeros((batch, cell_output_size(cell)), dtype=inputs.dtype)

    def reset_dropout(self) -> None:
        for cell in self.cells:
            reset = getattr(cell, "reset_dropout", None)
            if reset is not None:
                reset()

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [serialize_layer(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["cells"] = [deserialize_layer(c) for c in config["cells"]]
        return cls(**config)

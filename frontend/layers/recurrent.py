"""Recurrent layers: ``RNN(cell)`` (or ``RNN([cells])``, stacked) and SimpleRNN, LSTM, GRU, looped with ``th.scan``.

Inputs are ``(batch, time, features)``.  The layer transposes them to
time-major order and runs the cell over time with one ``th.scan``; the
loop's rewrites then compute ``x_t @ kernel`` for all steps as one matrix
product before the loop.  Options, as in Keras 3:

- ``return_sequences``: every step's output ``(batch, time, units)``, else the
  last one; ``return_state``: the final states follow the output in a list;
- ``go_backwards``: read the sequence from the end (the returned sequence is
  in the order processed, as in Keras);
- ``initial_state``: ``layer(x, initial_state=[h0, ...])`` or
  ``layer([x, h0, ...])`` (the form a functional model records);
- nested inputs and outputs, as Keras: ``layer((x1, x2))`` (a tuple) runs
  the cell on ``(x1_t, x2_t)`` each step (its ``build`` gets both step
  shapes; ``sequence_inputs`` remembers how many sequences lead the inputs),
  and a cell whose ``output_size`` is a list (``[unit_1, [unit_2, unit_3]]``)
  returns one output per entry; ``state_size`` entries may be shapes (lists);
- masks: a ``(batch, time)`` boolean mask (from ``Embedding(mask_zero=True)``,
  ``Masking`` or ``mask=``) holds the states and repeats the last output at
  masked steps; ``zero_output_for_mask`` gives zeros instead (Bidirectional
  sets it); the output sequence carries the mask on.
- the cells' ``dropout`` and ``recurrent_dropout`` masks are drawn once per
  call, in training only;
- ``stateful``: the final states of each batch are the initial states of
  the next (kept in non-trainable variables of the static batch size, in
  training and inference alike) until ``reset_state()``;
- ``unroll``: the loop is written out step by step instead of ``th.scan``
  (the time length must be static), as in Keras for short sequences;
- ``activity_regularizer``: a penalty on every output tensor (the states
  too, with ``return_state``) divided by the batch size, as Keras' base
  layer adds it;
- ``use_cudnn`` (LSTM and GRU): accepted for Keras compatibility ("auto",
  True or False); theanine has no cuDNN kernel, every backend runs the
  loop it compiles, so the value only travels in the config;
- initial states: the cell's ``get_initial_state(batch_size)`` when it has
  one (a custom cell may start from non-zero or learned states), else zeros
  (``RNN.get_initial_state``).
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import regularizers
from theanine.frontend.call_context import current_call_context
from theanine.frontend.layers import recurrent_onnx
from theanine.frontend.layers.base import (
    Layer,
    deserialize_layer,
    get_custom_objects,
    register_layer,
    serialize_layer,
)
from theanine.frontend.layers.recurrent_cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
    cell_output_size,
)

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU"]


def _state_sizes(cell) -> list:
    """One entry per state: an int (features) or, for convolutional cells, a tuple (its shape)."""
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _state_shape(batch, size) -> tuple:
    return (batch, *size) if isinstance(size, (tuple, list)) else (batch, size)


def _output_sizes(cell) -> tuple[list, bool]:
    """The cell's output sizes, and whether it has several outputs (an ``output_size`` that is a
    list, as Keras' nested cells: ``[unit_1, [unit_2, unit_3]]``; a tuple is one output's shape)."""
    size = cell_output_size(cell)
    return (list(size), True) if isinstance(size, list) else ([size], False)


def _per_sample(mask, ndim: int):
    """A ``(batch,)`` mask shaped to broadcast over values of ``ndim`` axes."""
    return th.reshape(mask, (-1,) + (1,) * (ndim - 1))


@register_layer
class RNN(Layer):
    """Loop a cell over the time axis; see the module docstring for the options."""

    supports_masking = True
    input_rank = 3  # (batch, time, features); convolutional recurrent layers add spatial axes

    def __init__(
        self,
        cell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activity_regularizer = regularizers.get(activity_regularizer, get_custom_objects())
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "state_size") or not callable(getattr(cell, "call", None)):
            raise ValueError(f"RNN: the cell must have state_size and call(inputs, states). Received: {cell!r}")
        self.cell = cell
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.states: list | None = None
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.sequence_inputs = 1

    # -- building and calling ------------------------------------------------------------------

    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        if isinstance(inputs, tuple):  # Keras' nested inputs: several sequences, one cell input each step
            if self.built and len(inputs) != self.sequence_inputs:
                raise ValueError(f"layer {self.name!r} was built for {self.sequence_inputs} input sequence(s). "
                                 f"Received: {len(inputs)}")
            self.sequence_inputs = len(inputs)
            inputs = list(inputs)
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            first = inputs[0] if isinstance(inputs, list) else inputs
            if not isinstance(first, th.Variable):  # an eager call: states held in variables are read now
                states = [s.get_value() if isinstance(s, th.SharedVariable) else s for s in states]
            inputs = [*(inputs if isinstance(inputs, list) else [inputs]), *states]
        return super().__call__(inputs, *args, **kwargs)

    def get_initial_state(self, batch_size) -> list:
        """The states a sequence starts from: the cell's ``get_initial_state`` if it has one, else
        zeros of the cell's state sizes (Keras 3's rule)."""
        make = getattr(self.cell, "get_initial_state", None)
        if make is None:
            return [th.zeros(_state_shape(batch_size, size), dtype=self.dtype) for size in _state_sizes(self.cell)]
        states = make(batch_size=batch_size)
        return list(states) if isinstance(states, (list, tuple)) else [states]

    def build(self, input_shape) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        if self.sequence_inputs > 1:
            if not self.cell.built:
                self.cell.build([(s[0], *s[2:]) for s in input_shape[: self.sequence_inputs]])
                self.cell.built = True
            input_shape = shape
        if len(shape) != self.input_rank and self.sequence_inputs == 1:
            expected = "(batch, time, features)" if self.input_rank == 3 else \
                f"(batch, time, {self.input_rank - 3} spatial axes and channels)"
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) expects inputs of shape {expected}. "
                f"Received: input_shape={tuple(shape)}"
            )
        if not self.cell.built:
            self.cell.build((shape[0], *shape[2:]))
            self.cell.built = True
        if self.stateful and self.states is None:
            if shape[0] is None:
                raise ValueError(
                    f"layer {self.name!r}: with stateful=True the batch size must be static; give it with "
                    f"Input(shape, batch_size=...) or batch_shape. Received: input_shape={tuple(shape)}"
                )
            self.states = [self.add_weight(shape=_state_shape(shape[0], size), initializer="zeros", trainable=False,
                                           name=f"state_{k}")
                           for k, size in enumerate(_state_sizes(self.cell))]
        if self.unroll and shape[1] is None:
            raise ValueError(
                f"layer {self.name!r}: unroll=True needs a static number of time steps. "
                f"Received: input_shape={tuple(shape)}"
            )

    def reset_state(self) -> None:
        """Zero the states a stateful layer carries from batch to batch."""
        if not self.stateful:
            raise ValueError(f"layer {self.name!r}: reset_state() needs stateful=True")
        for variable in self.states or []:
            variable.set_value(np.zeros_like(variable.get_value(borrow=True)))

    reset_states = reset_state

    def call(self, inputs, mask=None, training=None):
        context = current_call_context()
        if context is not None and context.onnx_export and recurrent_onnx.native_form_applies(self, inputs, mask):
            return recurrent_onnx.native_call(self, inputs)
        count = self.sequence_inputs
        xs, states = (list(inputs[:count]), list(inputs[count:])) if isinstance(inputs, list) else ([inputs], [])
        x = xs[0]
        states = self._initial_states(x, states)
        separate = not getattr(self.cell, "output_is_state", False)
        out_sizes, nested = _output_sizes(self.cell)
        carried_outputs = len(out_sizes) if separate else 0
        if separate:  # the last output is carried too (masked steps repeat it)
            states = [*(th.zeros(_state_shape(x.shape[0], size), dtype=x.dtype) for size in out_sizes), *states]
        sequences = [th.transpose(xi, (1, 0, *range(2, xi.ndim))) for xi in xs]
        if mask is not None:
            sequences.append(th.transpose(th.cast(mask, "bool"), (1, 0)))
        prepare = getattr(self.cell, "prepare_dropout", None)
        if prepare is not None:
            prepare(x[:, 0], states[carried_outputs], training)
        step = self._step(count, mask is not None, carried_outputs, nested, training)
        try:
            if self.unroll:
                outputs = self._unrolled(step, sequences, states)
            else:
                outputs, _ = th.scan(step, sequences=sequences, outputs_info=states, go_backwards=self.go_backwards,
                                     name=self.name, return_list=True)
        finally:
            reset = getattr(self.cell, "reset_dropout", None)
            if reset is not None:
                reset()
        if self.stateful:
            for variable, final in zip(self.states, outputs[carried_outputs:], strict=True):
                self.add_update((variable, final[-1]))
        results = self._results(outputs, sequences[count] if mask is not None else None, carried_outputs, nested)
        if self.activity_regularizer is not None:
            for output in results if isinstance(results, list) else [results]:
                batch = th.cast(output.shape[0], output.dtype)
                self.add_loss(th.divide_no_nan(self.activity_regularizer(output), batch))
        return results

    def _unrolled(self, step, sequences: list, states: list) -> list:
        """What ``th.scan`` returns (each carried value at every step, in the order processed), by
        calling ``step`` once per time step."""
        length = sequences[0].type.shape[0]
        order = range(length - 1, -1, -1) if self.go_backwards else range(length)
        history: list[list] = [[] for _ in states]
        for t in order:
            states = step(*[s[t] for s in sequences], *states)
            for values, state in zip(history, states, strict=True):
                values.append(state)
        return [th.stack(values) for values in history]

    def _initial_states(self, x, given: list) -> list:
        sizes = _state_sizes(self.cell)
        if self.stateful and not given:
            given = list(self.states)
        source = "initial_state"
        if not given:
            given, source = self.get_initial_state(x.shape[0]), "the cell's get_initial_state"
        if len(given) != len(sizes):
            raise ValueError(f"layer {self.name!r}: the cell has {len(sizes)} state(s), {source} gives {len(given)}")
        given = [th.as_tensor_variable(s) for s in given]
        return [th.cast(s, x.dtype) if s.dtype != x.dtype else s for s in given]

    def _step(self, count: int, masked: bool, carried_outputs: int, nested: bool, training):
        """The scan step: ``count`` sequence slices (given to the cell as one input, or a tuple of
        them), the mask slice, then the carried outputs (``carried_outputs`` of them) and states."""
        cell = self.cell
        kwargs = {"training": training} if getattr(cell, "_call_accepts_training", False) else {}

        def step(*args):
            slices, rest = args[:count], args[count:]
            mask_t, carried = (rest[0], list(rest[1:])) if masked else (None, list(rest))
            states = carried[carried_outputs:]
            output, new_states = cell.call(tuple(slices) if count > 1 else slices[0], states, **kwargs)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            outputs = list(output) if nested else [output]
            new = [*outputs, *new_states] if carried_outputs else new_states
            if mask_t is not None:
                new = [th.where(_per_sample(mask_t, n.ndim), n, old) for n, old in zip(new, carried, strict=True)]
            return new

        return step

    def _results(self, outputs: list, time_mask, carried_outputs: int, nested: bool):
        finals = [o[-1] for o in outputs[carried_outputs:]]
        results = [self._output_of(sequence, time_mask) for sequence in outputs[: max(carried_outputs, 1)]]
        output = results if nested else results[0]
        if self.return_state:
            return [*results, *finals]
        return output

    def _output_of(self, sequence, time_mask):
        """One output from its time-major history: the sequence or its last step, zeroed at masked
        steps with ``zero_output_for_mask``."""
        last = sequence[-1]
        if time_mask is not None and self.zero_output_for_mask:
            ordered = time_mask[::-1] if self.go_backwards else time_mask
            last = th.where(_per_sample(ordered[-1], last.ndim), last, th.zeros_like(last))
            steps = th.reshape(ordered, (ordered.shape[0], -1) + (1,) * (sequence.ndim - 2))
            sequence = th.where(steps, sequence, th.zeros_like(sequence))
        return th.transpose(sequence, (1, 0, *range(2, sequence.ndim))) if self.return_sequences else last

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        out_sizes, nested = _output_sizes(self.cell)
        masks = [output_mask] * len(out_sizes)
        if self.return_state:
            return masks + [None] * len(_state_sizes(self.cell))
        return masks if nested else output_mask

    # -- config ----------------------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "cell": serialize_layer(self.cell),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            **({"sequence_inputs": self.sequence_inputs} if self.sequence_inputs > 1 else {}),
        }

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        config = dict(config)
        config["cell"] = deserialize_layer(config["cell"])
        sequence_inputs = config.pop("sequence_inputs", 1)
        layer = cls(**config)
        layer.sequence_inputs = int(sequence_inputs)
        return layer


_LAYER_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask",
                  "activity_regularizer", "name", "trainable", "dtype", "input_shape")
_USE_CUDNN = ("auto", True, False)


class _CellLayer(RNN):
    """A recurrent layer that makes its own cell from the layer's arguments (Keras' SimpleRNN, LSTM, GRU)."""

    cell_class: type = SimpleRNNCell
    has_use_cudnn = False
    """Whether the layer takes Keras' ``use_cudnn`` (LSTM and GRU do)."""

    def __init__(self, units: int, **kwargs):
        layer_options = {k: kwargs.pop(k) for k in list(kwargs) if k in _LAYER_OPTIONS}
        if self.has_use_cudnn:
            self.use_cudnn = kwargs.pop("use_cudnn", "auto")
            if self.use_cudnn not in _USE_CUDNN:
                raise ValueError(f"{type(self).__name__}: use_cudnn must be one of 'auto', True, False. "
                                 f"Received: use_cudnn={self.use_cudnn!r}")
        cell_name = f"{self._default_cell_name()}"
        cell = self.cell_class(units, name=cell_name, dtype=layer_options.get("dtype"), **kwargs)
        super().__init__(cell, **layer_options)

    @classmethod
    def _default_cell_name(cls) -> str:
        return {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}.get(cls.__name__, "cell")

    def __getattr__(self, name: str):
        """The cell's options read as the layer's (``lstm.units``, ``gru.reset_after``)."""
        cell = self.__dict__.get("cell")
        if cell is not None and not name.startswith("_") and hasattr(cell, name):
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self) -> dict:
        config = {k: v for k, v in RNN.get_config(self).items() if k != "cell"}
        cell_config = {k: v for k, v in self.cell.get_config().items() if k not in ("name", "trainable", "dtype")}
        extra = {"use_cudnn": self.use_cudnn} if self.has_use_cudnn else {}
        return {**config, **cell_config, **extra}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@register_layer
class SimpleRNN(_CellLayer):
    """A fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    cell_class = SimpleRNNCell


@register_layer
class LSTM(_CellLayer):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), Keras' weights and gate order i, f, c, o."""

    cell_class = LSTMCell
    has_use_cudnn = True


@register_layer
class GRU(_CellLayer):
    """Gated recurrent unit (Cho et al. 2014), Keras 3's ``reset_after=True`` by default; gates z, r, h."""

    cell_class = GRUCell
    has_use_cudnn = True

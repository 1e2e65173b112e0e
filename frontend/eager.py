"""Eager calls: a layer or model called on NumPy arrays, as ``layer(x)`` runs in Keras 3.

theanine's layers build symbolic graphs.  Called on arrays (or Python
numbers), a layer traces its symbolic call on placeholders of the arrays'
types -- their dtype and rank, every dimension but the first static --
compiles the graph with ``th.function`` and keeps the function, keyed by
those types, the call's structure and its keyword arguments.  The next
call on arrays of the same types (any batch size) runs the compiled
function again (a ``mask=`` array is one more input of it); weights are shared variables, so later weight changes
are seen without retracing.

Masks travel as in Keras' eager mode: an output whose symbolic call carries
a mask (``Embedding(mask_zero=True)``, ``Masking``, a ``supports_masking``
layer after them) comes back as a ``MaskedOutput`` -- a NumPy array with
the mask (a boolean array) as its ``_keras_mask`` -- and a layer called on
such an array uses that mask unless ``mask=`` is given.

The call applies the state updates it adds (``Variable.assign``, a
stateful RNN's states; moving statistics, which layers add in training
only), as a Keras eager call does.  The results are NumPy arrays in the
structure the symbolic call returns (one array, a list, a tuple or a
dict).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

import theanine as th
from theanine.frontend.call_context import call_context
from theanine.graph.basic import Variable

__all__ = ["is_eager", "EagerFunctions", "MaskedOutput"]


class MaskedOutput(np.ndarray):
    """An eager layer's output array that carries its Keras mask as ``_keras_mask`` (see the
    module docstring); arrays computed from it carry none."""

    _keras_mask = None


def _leaves(inputs) -> tuple[list, str]:
    """The input leaves and the structure they came in: "single", "list" or "tuple"."""
    if isinstance(inputs, list):
        return list(inputs), "list"
    if isinstance(inputs, tuple):
        return list(inputs), "tuple"
    return [inputs], "single"


def is_eager(inputs) -> bool:
    """True when no input is symbolic (arrays or numbers); a mix of both is an error.

    Raises TypeError for a call that mixes symbolic tensors and arrays, and
    for an input that is neither.
    """
    leaves, _ = _leaves(inputs)
    symbolic = [isinstance(leaf, Variable) for leaf in leaves]
    if all(symbolic) and leaves:
        return False
    if any(symbolic):
        raise TypeError(
            "a layer is called either on symbolic tensors or on arrays, not on both. Received "
            f"inputs of types {[type(leaf).__name__ for leaf in leaves]}"
        )
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, (np.ndarray, np.generic, int, float, bool)):
            raise TypeError(
                "a layer is called on symbolic tensors (layers.Input or th.tensor) or on NumPy "
                f"arrays. Received input {i} of type {type(leaf).__name__}"
            )
    return True


@dataclass(frozen=True)
class _Signature:
    """What an eager call is compiled for: input types, structure, keyword arguments."""

    types: tuple[tuple[str, tuple], ...]
    structure: str
    kwargs: tuple[tuple[str, Hashable], ...]
    mask: tuple[str, tuple] | None = None


@dataclass
class _Compiled:
    function: th.Function
    structure: object  # "single", "list", "tuple", or the dict's keys
    masked: tuple[int, ...] = ()  # the outputs whose masks follow the outputs


class EagerFunctions:
    """The compiled eager calls of one layer, by signature (see the module docstring)."""

    def __init__(self) -> None:
        self._functions: dict[_Signature, _Compiled] = {}

    def clear(self) -> None:
        """Forget every compiled call (the layer's graph changed: ``Sequential.add``/``pop``)."""
        self._functions.clear()

    def __len__(self) -> int:
        return len(self._functions)

    def call(self, layer, inputs, args: tuple, kwargs: dict):
        """``layer(inputs, *args, **kwargs)`` on arrays: compile once per signature, run."""
        if args:
            raise TypeError(
                f"layer {layer.name!r}: an eager call takes the inputs and keyword arguments only. "
                f"Received {len(args)} extra positional argument(s)"
            )
        leaves, structure = _leaves(inputs)
        arrays = [np.asarray(leaf) for leaf in leaves]
        kwargs = dict(kwargs)
        mask = kwargs.pop("mask", None)
        carried = mask is None and leaves and getattr(leaves[0], "_keras_mask", None) is not None
        if carried:  # an eager output's mask, used as Keras uses a tensor's mask
            mask = leaves[0]._keras_mask
        mask = None if mask is None else np.asarray(mask)  # an array mask is one more input
        for i, array in enumerate(arrays):
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    f"layer {layer.name!r}: input {i} must hold numbers. Received dtype {array.dtype}"
                )
        signature = _Signature(
            tuple((a.dtype.name, a.shape[1:] if a.ndim else ()) for a in arrays),
            structure,
            _frozen_kwargs(layer, kwargs),
            None if mask is None else (mask.dtype.name, mask.shape[1:], bool(carried)),
        )
        if signature not in self._functions:
            self._functions[signature] = _trace(layer, arrays, structure, kwargs, mask, bool(carried))
        compiled = self._functions[signature]
        outputs = compiled.function(*arrays, *([] if mask is None else [mask]))
        outputs = outputs if isinstance(outputs, list) else [outputs]
        values = outputs[: len(outputs) - len(compiled.masked)]
        for index, output_mask in zip(compiled.masked, outputs[len(values):], strict=True):
            values[index] = values[index].view(MaskedOutput)
            values[index]._keras_mask = output_mask
        return _restructure(values, compiled.structure)


def _frozen_kwargs(layer, kwargs: dict) -> tuple:
    try:
        frozen = tuple(sorted(kwargs.items()))
        hash(frozen)
    except TypeError as exc:
        raise TypeError(
            f"layer {layer.name!r}: the keyword arguments of an eager call must be hashable "
            f"(they select the compiled function). Received {sorted(kwargs)}"
        ) from exc
    return frozen


def _trace(layer, arrays: list[np.ndarray], structure: str, kwargs: dict, mask=None,
           carried: bool = False) -> _Compiled:
    """Trace ``layer`` on placeholders of ``arrays``' types (and ``mask``'s: passed as ``mask=``,
    or, ``carried``, as the first placeholder's own mask) and compile it."""
    placeholders = [
        th.tensor(f"x{i}", a.dtype.name, (None, *a.shape[1:]) if a.ndim else ())
        for i, a in enumerate(arrays)
    ]
    call_inputs = {"single": placeholders[0] if placeholders else None, "list": placeholders,
                   "tuple": tuple(placeholders)}[structure]
    training = kwargs.get("training")
    # build first, outside the call context: a model records its graph of layer calls as it
    # builds, and calls nested in a context record nothing.  A stateful layer (RNN) sizes its
    # state variables by the batch, so it is built for the arrays' batch size, as in Keras.
    layer._maybe_build(_build_inputs(layer, placeholders, arrays), structure != "single")
    mask_inputs = [] if mask is None else [th.tensor("mask", mask.dtype.name, (None, *mask.shape[1:]))]
    if mask_inputs and carried:
        placeholders[0]._keras_mask = mask_inputs[0]
    elif mask_inputs:
        kwargs = {**kwargs, "mask": mask_inputs[0]}
    with call_context(training) as context:
        outputs = layer(call_inputs, **kwargs)
    flat, out_structure = _flatten_outputs(outputs, layer)
    masked = tuple(i for i, o in enumerate(flat) if isinstance(getattr(o, "_keras_mask", None), Variable))
    updates = _last_update_per_variable(context.updates)
    function = th.function(
        placeholders + mask_inputs, flat + [flat[i]._keras_mask for i in masked], updates=updates,
        name=f"{layer.name}_eager", on_unused_input="ignore"
    )
    return _Compiled(function, out_structure, masked)


def _build_inputs(layer, placeholders: list, arrays: list[np.ndarray]) -> list:
    """What ``layer`` is built on: the placeholders, with the arrays' batch size when the layer
    is stateful and not built yet."""
    if layer.built or not getattr(layer, "stateful", False):
        return placeholders
    return [th.tensor(p.name, p.dtype, a.shape) if a.ndim else p for p, a in zip(placeholders, arrays, strict=True)]


def _flatten_outputs(outputs, layer) -> tuple[list, object]:
    if isinstance(outputs, Mapping):
        keys = list(outputs)
        return [outputs[k] for k in keys], keys
    if isinstance(outputs, (list, tuple)):
        return list(outputs), type(outputs).__name__
    if not isinstance(outputs, Variable):
        raise TypeError(
            f"layer {layer.name!r} returned {type(outputs).__name__}; call() must return tensors"
        )
    return [outputs], "single"


def _restructure(outputs: list, structure):
    if structure == "single":
        return outputs[0]
    if structure == "tuple":
        return tuple(outputs)
    if structure == "list":
        return list(outputs)
    return dict(zip(structure, outputs, strict=True))


def _last_update_per_variable(pairs) -> list:
    """One update per shared variable, the last one added, cast to the variable's dtype."""
    last: dict[int, tuple] = {}
    for shared, value in pairs:
        last[id(shared)] = (shared, th.cast(value, shared.dtype))
    return list(last.values())

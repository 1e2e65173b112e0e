"""Layers that rearrange tensors: Reshape, Permute, RepeatVector, and Lambda.

Every shape argument excludes the batch axis, as in Keras: ``Reshape((4, 2))``
turns ``(n, 8)`` into ``(n, 4, 2)``.

``Lambda`` wraps a user function of theanine tensors.  A saved model keeps
only the function's *name*; loading looks that name up in ``custom_objects``
and never runs code stored in the file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.core import _positive_int
from theanine.frontend.registry import registered_name, registered_object

__all__ = ["Reshape", "Permute", "RepeatVector", "Lambda"]


def _static_product(dims) -> int:
    return int(np.prod(dims, dtype=np.int64))


def _checked_target_shape(target_shape) -> tuple[int, ...]:
    """Positive ints with at most one -1 (the size inferred from the input)."""
    shape = tuple(target_shape) if isinstance(target_shape, Sequence) else (target_shape,)
    valid = all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and (d > 0 or d == -1)
        for d in shape
    )
    if not valid or shape.count(-1) > 1:
        raise ValueError(
            "Reshape target_shape must hold positive integers and at most one -1. "
            f"Received: target_shape={target_shape!r}"
        )
    return tuple(int(d) for d in shape)


@register_layer
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1, inferred)."""

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _checked_target_shape(target_shape)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        target = self.compute_output_shape(inputs.type.shape)[1:]
        return th.reshape(inputs, (inputs.shape[0], *(-1 if d is None else d for d in target)))

    def compute_output_shape(self, input_shape):
        """``(batch, *target_shape)`` with the -1 resolved when the input sizes are known."""
        sample_shape = tuple(input_shape)[1:]
        known = [d for d in self.target_shape if d != -1]
        if any(d is None for d in sample_shape):
            target = tuple(None if d == -1 else d for d in self.target_shape)
            return (input_shape[0], *target)
        size, known_size = _static_product(sample_shape), _static_product(known)
        if size % known_size or (-1 not in self.target_shape and size != known_size):
            raise ValueError(
                f"layer {self.name!r} (Reshape) cannot reshape samples of shape {sample_shape} "
                f"({size} values) to target_shape={self.target_shape}: the total size must "
                "be unchanged"
            )
        inferred = size // known_size
        return (input_shape[0], *(inferred if d == -1 else d for d in self.target_shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register_layer
class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of ``1..ndim-1`` (1-based)."""

    def __init__(self, dims: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Permute dims must be a permutation of 1..n (the batch axis 0 stays first). "
                f"Received: dims={dims}"
            )
        self.dims = tuple(int(d) for d in dims)

    def build(self, input_shape) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"layer {self.name!r} (Permute) with dims={self.dims} expects inputs of rank "
                f"{len(self.dims) + 1}. Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs, training=None):
        return th.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


@register_layer
class RepeatVector(Layer):
    """Repeat each sample ``n`` times: ``(batch, features) -> (batch, n, features)``."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int(n, "n")

    def build(self, input_shape) -> None:
        if len(input_shape) != 2:
            raise ValueError(
                f"layer {self.name!r} (RepeatVector) expects inputs of rank 2 (batch, features). "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs, training=None):
        return th.repeat(th.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


def _resolve_function(identifier, what: str) -> Callable:
    """A callable as is; a name through ``custom_objects`` (the only way loading finds code)."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        found = registered_object(identifier)
        if callable(found):
            return found
        short = identifier.rpartition(">")[2]
        raise ValueError(
            f"Lambda {what} {identifier!r} is not in custom_objects nor registered with "
            "@register_serializable. A Lambda layer is saved by its function's name only (code "
            f"is never loaded from a file); pass custom_objects={{{short!r}: {short}}} when loading"
        )
    raise TypeError(f"Lambda {what} must be a callable or its name. Received: {identifier!r}")


def _function_name(function: Callable, what: str) -> str:
    """The name a Lambda's function is saved under; anonymous functions cannot be saved."""
    name = registered_name(function)
    if not name or name == "<lambda>":
        raise ValueError(
            f"cannot serialize the Lambda {what} {function!r}: it has no name. Define it with "
            "def and register it with @register_serializable() (or pass it in custom_objects "
            "when loading the model)"
        )
    return name


def _accepts_training(function: Callable) -> bool:
    try:
        return "training" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


@register_layer
class Lambda(Layer):
    """Apply ``function(inputs, **arguments)``, a pure function of theanine tensors.

    ``training`` is passed on when the function has a ``training`` parameter.
    ``output_shape`` (without the batch axis, or a callable of the full input
    shape) is only needed when tracing the function cannot infer it.  Saving
    stores the function's name; ``load_model(path, custom_objects={name:
    function})`` restores it.
    """

    def __init__(
        self,
        function,
        output_shape: Sequence[int | None] | Callable | str | None = None,
        arguments: dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.function = _resolve_function(function, "function")
        self.output_shape = output_shape
        if isinstance(output_shape, str) or callable(output_shape):
            self.output_shape = _resolve_function(output_shape, "output_shape")
        elif output_shape is not None:
            self.output_shape = tuple(output_shape)
        self.arguments = dict(arguments or {})
        self._function_takes_training = _accepts_training(self.function)

    def call(self, inputs, training=None):
        options = dict(self.arguments)
        if self._function_takes_training:
            options["training"] = training
        return self.function(inputs, **options)

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return tuple(self.output_shape(input_shape))
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        return (first[0], *self.output_shape)

    def get_config(self) -> dict:
        config = {**super().get_config(), "function": _function_name(self.function, "function")}
        if callable(self.output_shape):
            config["output_shape"] = _function_name(self.output_shape, "output_shape")
        elif self.output_shape is not None:
            config["output_shape"] = list(self.output_shape)
        if self.arguments:
            config["arguments"] = dict(self.arguments)
        return config

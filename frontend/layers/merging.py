"""Merge layers: combine a list of tensors into one (Keras' ``layers.merging``).

- Elementwise: Add, Subtract (two inputs), Multiply, Average, Maximum,
  Minimum.  The inputs have one rank; their sizes broadcast NumPy-style
  (equal, or 1), the batch axis included.
- Concatenate: along ``axis``; the other sizes must agree.
- Dot: the per-sample dot product of two tensors along ``axes``, Keras'
  ``batch_dot``: the output holds the remaining axes of the first input,
  then those of the second, and ``(batch, 1)`` when both inputs are 2-D.

Each layer has Keras' functional twin, ``add([a, b])`` for
``Add()([a, b])``: its keyword arguments go to the layer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.losses import l2_normalize

__all__ = [
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "concatenate",
    "dot",
]


def _input_shapes(layer: Layer, input_shape, count: int | None = None) -> list[tuple]:
    """The shapes of a merge layer's list of inputs, checked for number and rank."""
    if not isinstance(input_shape, list) or not input_shape:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) is called on a list of tensors. "
            f"Received: input_shape={input_shape}"
        )
    shapes = [tuple(s) for s in input_shape]
    if count is not None and len(shapes) != count:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) expects exactly {count} inputs. "
            f"Received: {len(shapes)} inputs of shapes {shapes}"
        )
    return shapes


def _same_rank(layer: Layer, shapes: list[tuple]) -> None:
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) expects inputs of one rank. "
            f"Received: shapes {shapes}"
        )


def _broadcast_dim(a: int | None, b: int | None) -> int | None | bool:
    """The size two broadcast sizes give, or False when they cannot broadcast."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if a is None or b is None:
        return a if b is None else b
    return False


def _broadcast_shapes(layer: Layer, shapes: list[tuple]) -> tuple:
    _same_rank(layer, shapes)
    result = list(shapes[0])
    for shape in shapes[1:]:
        for i, size in enumerate(shape):
            merged = _broadcast_dim(result[i], size)
            if merged is False:
                raise ValueError(
                    f"layer {layer.name!r} ({type(layer).__name__}) got inputs of incompatible "
                    f"shapes: sizes {result[i]} and {size} on axis {i}. Received: shapes {shapes}"
                )
            result[i] = merged
    return tuple(result)


def _input_masks(inputs) -> list:
    """The mask each input tensor carries (``_keras_mask``), None where it has none."""
    return [getattr(t, "_keras_mask", None) for t in inputs]


class _Merge(Layer):
    """An elementwise merge: ``merge(list_of_tensors) -> tensor``; shapes broadcast."""

    input_count: int | None = None

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return self.merge(list(inputs))

    def merge(self, tensors: list):
        raise NotImplementedError(f"{type(self).__name__} must implement merge()")

    def compute_mask(self, inputs, mask=None):
        """Keras 3's rule: the logical or of the inputs' masks, None when an input has none."""
        masks = _input_masks(inputs)
        if any(m is None for m in masks):
            return None
        merged = th.cast(masks[0], "bool")
        for m in masks[1:]:
            merged = th.logical_or(merged, th.cast(m, "bool"))
        return merged

    def compute_output_shape(self, input_shape):
        return _broadcast_shapes(self, _input_shapes(self, input_shape, self.input_count))


@register_layer
class Add(_Merge):
    """The elementwise sum of the inputs."""

    def merge(self, tensors: list):
        return functools.reduce(th.add, tensors)


@register_layer
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    input_count = 2

    def merge(self, tensors: list):
        return tensors[0] - tensors[1]


@register_layer
class Multiply(_Merge):
    """The elementwise product of the inputs."""

    def merge(self, tensors: list):
        return functools.reduce(th.multiply, tensors)


@register_layer
class Average(_Merge):
    """The elementwise mean of the inputs."""

    def merge(self, tensors: list):
        return functools.reduce(th.add, tensors) / len(tensors)


@register_layer
class Maximum(_Merge):
    """The elementwise maximum of the inputs."""

    def merge(self, tensors: list):
        return functools.reduce(th.maximum, tensors)


@register_layer
class Minimum(_Merge):
    """The elementwise minimum of the inputs."""

    def merge(self, tensors: list):
        return functools.reduce(th.minimum, tensors)


@register_layer
class Concatenate(Layer):
    """Join the inputs along ``axis`` (default the last); other sizes must agree."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return th.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras 3's rule: each input's mask (all true when it has none) spread over its last axis,
        joined along ``axis``, then ``any`` over the last axis; None when no input has a mask."""
        masks = _input_masks(inputs)
        if all(m is None for m in masks):
            return None
        full = []
        for tensor, m in zip(inputs, masks, strict=True):
            if m is None:
                full.append(th.cast(th.ones_like(tensor), "bool"))
            elif m.ndim < tensor.ndim:
                spread = th.expand_dims(th.cast(m, tensor.dtype), -1) + th.zeros_like(tensor)
                full.append(th.not_equal(spread, 0))
            else:
                full.append(th.cast(m, "bool"))
        return th.any(th.concatenate(full, axis=self.axis), axis=-1)

    def compute_output_shape(self, input_shape):
        shapes = _input_shapes(self, input_shape)
        _same_rank(self, shapes)
        ndim = len(shapes[0])
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"layer {self.name!r} (Concatenate) got axis={self.axis} for inputs of rank "
                f"{ndim}. Received: shapes {shapes}"
            )
        axis = self.axis % ndim
        result = []
        for i, sizes in enumerate(zip(*shapes, strict=True)):
            if i == axis:
                result.append(None if None in sizes else sum(sizes))
                continue
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise ValueError(
                    f"layer {self.name!r} (Concatenate) needs equal sizes on every axis but "
                    f"axis={self.axis}; axis {i} has sizes {list(sizes)}. Received: shapes {shapes}"
                )
            result.append(known.pop() if known else None)
        return tuple(result)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _size(tensor, axis: int):
    """A static size as an int, else the symbolic size (for reshape targets)."""
    static = tensor.type.shape[axis]
    return tensor.shape[axis] if static is None else static


def batch_dot(x, y, x_axis: int, y_axis: int):
    """Per-sample contraction of ``x`` on ``x_axis`` with ``y`` on ``y_axis`` (Keras semantics).

    Both are brought to rank 3, ``(batch, rest_x, n)`` and ``(batch, n,
    rest_y)``, multiplied by one batched matmul, then reshaped to ``(batch,
    *rest_x, *rest_y)``, or ``(batch, 1)`` when both inputs are 2-D.
    """
    x_rest = [i for i in range(1, x.ndim) if i != x_axis]
    y_rest = [i for i in range(1, y.ndim) if i != y_axis]
    batch, size = _size(x, 0), _size(x, x_axis)
    x3 = th.reshape(th.transpose(x, (0, *x_rest, x_axis)), (batch, -1, size))
    y3 = th.reshape(th.transpose(y, (0, y_axis, *y_rest)), (batch, size, -1))
    rest = [_size(x, i) for i in x_rest] + [_size(y, i) for i in y_rest]
    return th.reshape(th.matmul(x3, y3), (batch, *(rest or [1])))


@register_layer
class Dot(Layer):
    """The dot product of two inputs' samples along ``axes`` (an int or one axis per input).

    With ``normalize=True`` both inputs are L2-normalized along those axes
    first, so the output is the cosine similarity.
    """

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        pair = [axes, axes] if isinstance(axes, int) else list(axes)
        if len(pair) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in pair):
            raise ValueError(f"Dot axes must be an int or a pair of ints. Received: axes={axes!r}")
        self.axes = axes if isinstance(axes, int) else tuple(pair)
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes: list[tuple]) -> tuple[int, int]:
        """The contracted axis of each input, non-negative, checked against the shapes."""
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        resolved = []
        for axis, shape in zip(pair, shapes, strict=True):
            if len(shape) < 2 or not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
                raise ValueError(
                    f"layer {self.name!r} (Dot) with axes={self.axes} needs inputs of rank >= 2 "
                    f"and a non-batch axis in range. Received: shapes {shapes}"
                )
            resolved.append(axis % len(shape))
        sizes = (shapes[0][resolved[0]], shapes[1][resolved[1]])
        if None not in sizes and sizes[0] != sizes[1]:
            raise ValueError(
                f"layer {self.name!r} (Dot) contracts axes of different sizes {sizes[0]} and "
                f"{sizes[1]} (axes={self.axes}). Received: shapes {shapes}"
            )
        return resolved[0], resolved[1]

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        x, y = inputs
        x_axis, y_axis = self._resolved_axes([x.type.shape, y.type.shape])
        if self.normalize:
            x, y = l2_normalize(x, x_axis), l2_normalize(y, y_axis)
        return batch_dot(x, y, x_axis, y_axis)

    def compute_output_shape(self, input_shape):
        shapes = _input_shapes(self, input_shape, 2)
        x_axis, y_axis = self._resolved_axes(shapes)
        rest = [d for i, d in enumerate(shapes[0][1:], 1) if i != x_axis]
        rest += [d for i, d in enumerate(shapes[1][1:], 1) if i != y_axis]
        return (shapes[0][0], *(rest or [1]))

    def get_config(self) -> dict:
        axes = self.axes if isinstance(self.axes, int) else list(self.axes)
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


# ----------------------------------------------------------------------------- functional twins


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the elementwise sum of the inputs."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the elementwise product of the inputs."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the elementwise mean of the inputs."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum of the inputs."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum of the inputs."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes: int | Sequence[int] = -1, normalize: bool = False, **kwargs):
    """``Dot(axes, normalize, **kwargs)(inputs)``: the per-sample dot product of two inputs."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)

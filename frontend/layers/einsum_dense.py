"""``EinsumDense``: a dense layer whose product is an einsum equation (Keras 3's layer).

``einsum(equation, inputs, kernel) + bias``, then the activation.  The
equation is ``"<input>,<kernel>-><output>"`` with an optional ``...`` at
the start of the input and output (``"...b,bc->...c"``) or at the end
(``"ab...,bc->ac..."``).  The kernel's shape follows from the equation:
each kernel letter takes its size from the output (``output_shape``, the
output without the batch axis; None entries come from the input) or else
from the input.  ``bias_axes`` names output letters; the bias spans the
output from the first of them to the end, with size 1 on the letters not
named.  The shapes equal Keras' (``_analyze_einsum_string``), so
``set_weights`` takes a Keras layer's arrays.  A variance-scaling kernel
initializer (Glorot, He, ...) takes its fans from those axes, as Keras'
(fan in: the product of the kernel's input-letter axes; fan out: of its
output-letter axes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import theanine as th
from theanine.frontend import activations, constraints, initializers, regularizers
from theanine.frontend.layers.base import Layer, get_custom_objects, register_layer

__all__ = ["EinsumDense"]

_FORMS = (
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False),
)


@dataclass(frozen=True)
class EinsumShapes:
    """What an equation fixes for inputs of one shape: weight shapes and the full output shape."""

    kernel: tuple
    bias: tuple | None
    output: tuple
    output_axes: tuple  # the kernel axes that are output letters (the others are input letters)


def _split(equation: str) -> tuple[str, str, str, bool]:
    """``(input, kernel, output, left_elided)`` letters of ``equation`` (``...`` removed)."""
    replaced = equation.replace("...", "0") if isinstance(equation, str) else ""
    for pattern, left in _FORMS:
        match = pattern.fullmatch(replaced)
        if match:
            return match.group(1), match.group(2), match.group(3), left
    raise ValueError(
        f"Invalid einsum equation {equation!r}. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def _full_output(input_shape, partial, elided: int, left: bool) -> list:
    output = [input_shape[0], *partial]
    if elided > 0 and left:
        output[1:1] = list(input_shape[1:elided])
    elif elided > 0:
        output += list(input_shape[len(input_shape) - elided:])
    return output


def analyze(equation: str, bias_axes: str | None, input_shape, partial_output) -> EinsumShapes:
    """Keras' weight and output shapes of ``equation`` on inputs of ``input_shape``."""
    input_spec, kernel_spec, output_spec, left = _split(equation)
    elided = len(input_shape) - len(input_spec)
    output = _full_output(input_shape, partial_output, elided, left)
    shift = elided if left else 0
    in_axis = {c: i + shift for i, c in enumerate(input_spec)}
    out_axis = {c: i + shift for i, c in enumerate(output_spec)}
    for c in input_spec:
        if c in out_axis and output[out_axis[c]] is not None and output[out_axis[c]] != input_shape[in_axis[c]]:
            raise ValueError(f"Input shape and output shape do not match at shared dimension {c!r}. Input shape "
                             f"is {input_shape[in_axis[c]]}, and output shape is {output[out_axis[c]]}.")
    for c in output_spec:
        if c not in input_spec and c not in kernel_spec:
            raise ValueError(f"Dimension {c!r} was specified in the output {output_spec!r} but has no "
                             f"corresponding dim in the input spec {input_spec!r} or weight spec {kernel_spec!r}")
    kernel = []
    for c in kernel_spec:
        if c not in out_axis and c not in in_axis:
            raise ValueError(f"Weight dimension {c!r} did not have a match in either the input spec "
                             f"{input_spec!r} or the output spec {output_spec!r}. For this layer, the weight "
                             "must be fully specified.")
        kernel.append(output[out_axis[c]] if c in out_axis else input_shape[in_axis[c]])
    for c in input_spec:
        if c in out_axis and output[out_axis[c]] is None:
            output[out_axis[c]] = input_shape[in_axis[c]]
    return EinsumShapes(tuple(kernel), _bias_shape(bias_axes, output_spec, output, shift, elided, left),
                        tuple(output), tuple(i for i, c in enumerate(kernel_spec) if c in out_axis))


def _bias_shape(bias_axes, output_spec: str, output: list, shift: int, elided: int, left: bool):
    if bias_axes is None:
        return None
    for c in bias_axes:
        if c not in output_spec:
            raise ValueError(f"Bias dimension {c!r} was requested, but is not part of the output spec "
                             f"{output_spec!r}")
    first = min(output_spec.find(c) for c in bias_axes)
    shape = [output[i + shift] if c in bias_axes else 1 for i, c in enumerate(output_spec) if i >= first]
    return tuple(shape + ([1] * elided if not left and elided > 0 else []))


def _get(module, identifier):
    return module.get(identifier, get_custom_objects())


@register_layer
class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``; see the module docstring."""

    def __init__(self, equation: str, output_shape, activation=None, bias_axes: str | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        _split(equation)
        self.equation = equation
        partial = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in partial):
            raise ValueError(f"EinsumDense: output_shape must hold positive ints or None. "
                             f"Received: output_shape={output_shape!r}")
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise ValueError(f"EinsumDense: bias_axes must be a string of output letters. "
                             f"Received: bias_axes={bias_axes!r}")
        self.partial_output_shape, self.bias_axes = partial, bias_axes
        self.activation = _get(activations, activation)
        self.kernel_initializer = _get(initializers, kernel_initializer)
        self.bias_initializer = _get(initializers, bias_initializer)
        self.kernel_regularizer = _get(regularizers, kernel_regularizer)
        self.bias_regularizer = _get(regularizers, bias_regularizer)
        self.activity_regularizer = _get(regularizers, activity_regularizer)
        self.kernel_constraint = _get(constraints, kernel_constraint)
        self.bias_constraint = _get(constraints, bias_constraint)

    def build(self, input_shape) -> None:
        shapes = analyze(self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape)
        if None in shapes.kernel or (shapes.bias is not None and None in shapes.bias):
            raise ValueError(f"layer {self.name!r} (EinsumDense) needs static sizes for its weights: kernel "
                             f"{shapes.kernel}, bias {shapes.bias}. Received: input_shape={tuple(input_shape)}")
        self.kernel = self.add_weight(shape=shapes.kernel, initializer=self._kernel_initializer(shapes),
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self.bias = None
        if shapes.bias is not None:
            self.bias = self.add_weight(shape=shapes.bias, initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                                        name="bias")

    def _kernel_initializer(self, shapes: EinsumShapes):
        """Keras' fans for a variance-scaling initializer: the products of the kernel's input and output
        axes (the samples are independent, so drawing them as that matrix and reshaping is the same)."""
        if not isinstance(self.kernel_initializer, initializers.VarianceScaling) or len(shapes.kernel) == 2:
            return self.kernel_initializer
        fan_out = math.prod(shapes.kernel[i] for i in shapes.output_axes)
        fan_in = math.prod(shapes.kernel) // max(fan_out, 1)

        def initialize(shape, dtype=None):
            return self.kernel_initializer((fan_in, fan_out), dtype).reshape(shape)

        return initialize

    def call(self, inputs, training=None):
        outputs = th.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if self.activity_regularizer is not None:
            batch = th.cast(outputs.shape[0], outputs.dtype)
            self.add_loss(self.activity_regularizer(outputs) / batch)
        return outputs

    def compute_output_shape(self, input_shape):
        return analyze(self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape).output

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

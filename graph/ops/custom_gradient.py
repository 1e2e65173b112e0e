"""``GradientOverride``: values that pass through unchanged but whose gradient is the user's.

``GradientOverride(grad_fn, n_inputs)(*xs, *ys)`` returns ``ys`` unchanged.
In reverse mode its ``L_op`` calls ``grad_fn(*output_grads)`` and gives the
result to ``xs``; the ``ys`` themselves receive no gradient, so the graph
that computed them from ``xs`` is not differentiated.  This is
``tf.custom_gradient`` / Keras' ``ops.custom_gradient`` on a graph: the
forward computation is ordinary graph code, and ``grad_fn`` (usually a
closure over its intermediate values) writes the backward one.  The op is
equal to another only with the same ``grad_fn`` object.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable

__all__ = ["GradientOverride"]


class GradientOverride(Op):
    """The identity on the last inputs, with ``grad_fn`` as the gradient of the first ``n_inputs``."""

    __props__ = ("grad_fn", "n_inputs")

    def __init__(self, grad_fn: Callable, n_inputs: int):
        if not callable(grad_fn):
            raise TypeError(f"GradientOverride: grad_fn must be callable. Received: {grad_fn!r}")
        self.grad_fn, self.n_inputs = grad_fn, int(n_inputs)

    def __str__(self) -> str:
        return f"GradientOverride{{{getattr(self.grad_fn, '__qualname__', 'grad_fn')}}}"

    def make_node(self, *inputs) -> Apply:
        inputs = [as_tensor_variable(v) for v in inputs]
        values = inputs[self.n_inputs:]
        if not values:
            raise ValueError("GradientOverride: no output values were given")
        return Apply(self, inputs, [v.type for v in values])

    def perform(self, node, inputs):
        return [np.array(v, copy=True) for v in inputs[self.n_inputs:]]

    def infer_shape(self, node, input_shapes):
        return list(input_shapes[self.n_inputs:])

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        return [[i < self.n_inputs] * n_out for i in range(len(node.inputs))]

    def L_op(self, inputs, outputs, output_grads):
        grads = self.grad_fn(*output_grads)
        grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
        if len(grads) != self.n_inputs:
            raise ValueError(
                f"custom_gradient: the gradient function returned {len(grads)} gradient(s) for "
                f"{self.n_inputs} tensor input(s)"
            )
        return [None if g is None else as_tensor_variable(g) for g in grads] + [None] * (len(inputs) - self.n_inputs)

"""``DisconnectedGrad``: identity in value, a constant for differentiation (``stop_gradient``).

An op of its own (not part of ``gradient.py``) so that ops such as ``logsumexp`` can use it
without depending on the gradient pass; ``th.grad`` sees it through its connection pattern,
and the specialize phase removes it once gradients are built.
"""

from __future__ import annotations

from theanine.graph.basic import Apply
from theanine.graph.op import NonDifferentiableOp
from theanine.graph.tensor import as_tensor_variable

__all__ = ["DisconnectedGrad", "disconnected_grad", "stop_gradient"]


class DisconnectedGrad(NonDifferentiableOp):
    """Identity in the forward pass; blocks every gradient through it."""

    view_map = {0: [0]}

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0]]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def disconnected_grad(x):
    """``x`` in value, a constant for differentiation."""
    return DisconnectedGrad()(x)


stop_gradient = disconnected_grad

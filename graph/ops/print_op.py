"""``Print``: Theano's debugging op, identity in value, printing its input when it runs.

``x = th.Print("x is")(x)`` prints ``x is __str__ = [...]`` each time a
compiled function computes ``x`` (``attrs`` names other attributes of the
value to print, e.g. ``("shape", "sum")``; a callable attribute is
called).  Gradients and R-op pass straight through.  Only the output of the
op prints: use it in place of ``x`` downstream.

The op has no kernel lowering on purpose: every backend runs it as a Python
fallback (``perform``), which is where printing happens; ``message`` and
``attrs`` are its parameters, so two Prints of the same value with the same
message merge.
"""

from __future__ import annotations

import sys

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable

__all__ = ["Print"]


class Print(Op):
    """Identity that prints ``message`` and ``attrs`` of its input's value when computed."""

    __props__ = ("message", "attrs")

    def __init__(self, message: str = "", attrs=("__str__",)):
        if not isinstance(message, str):
            raise TypeError(f"Print: message must be a str. Received: {message!r}")
        self.message = message
        self.attrs = tuple(attrs)

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        value = inputs[0]
        for attr in self.attrs:
            shown = getattr(value, attr)
            sys.stdout.write(f"{self.message} {attr} = {shown() if callable(shown) else shown}\n")
        return [value.copy()]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]

    def R_op(self, inputs, eval_points):
        return [eval_points[0]]

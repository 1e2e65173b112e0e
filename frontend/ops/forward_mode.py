"""Keras' ``ops.jvp``: forward-mode Jacobian-vector products through the graph's ``Rop``.

``fun`` is called on graph tensors (the primals as given, or constants made
from arrays), and ``th.Rop`` pushes the tangents through each node's
``R_op`` (an op without one goes through its ``L_op`` twice).  Primals and
tangents are nests of lists, tuples and dicts as in JAX; the tangents out
have the structure of ``fun``'s output.  Called on arrays only, the results
are arrays (``eager``'s rule).
"""

from __future__ import annotations

import theanine as th
from theanine.frontend.ops.eager import evaluated, flatten, is_symbolic, pack_as

__all__ = ["jvp"]


def jvp(fun, primals, tangents, has_aux: bool = False):
    """``(fun(*primals), J tangents)``, plus ``fun``'s auxiliary output when ``has_aux``."""
    if not isinstance(primals, (list, tuple)) or not isinstance(tangents, (list, tuple)):
        raise TypeError("ops.jvp: primals and tangents must be tuples or lists of fun's positional arguments. "
                        f"Received: {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"ops.jvp: {len(primals)} primals but {len(tangents)} tangents")
    symbolic = is_symbolic(primals) or is_symbolic(tangents)
    inputs = [th.as_tensor_variable(p) for p in flatten(list(primals))]
    directions = [th.as_tensor_variable(t) for t in flatten(list(tangents))]
    if len(inputs) != len(directions):
        raise ValueError(f"ops.jvp: tangents must have primals' structure: {len(inputs)} primal leaves but "
                         f"{len(directions)} tangent leaves")
    result = fun(*pack_as(list(primals), inputs))
    outputs, aux = result if has_aux else (result, None)
    leaves = [th.as_tensor_variable(o) for o in flatten(outputs)]
    pushed = th.Rop(leaves, inputs, [d.astype(i.dtype) for d, i in zip(directions, inputs, strict=True)])
    found = (pack_as(outputs, leaves), pack_as(outputs, list(pushed)), *((aux,) if has_aux else ()))
    return found if symbolic else evaluated(found)

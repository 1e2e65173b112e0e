"""Pickling graphs: the few objects pickle cannot take as they are, reduced to what rebuilds them.

Graphs (variables, Apply nodes, ops) pickle by their attributes, except:

- an elementwise ``ScalarOp`` holds its NumPy implementation and gradient
  rule as functions, often lambdas.  Every table op is registered by name
  in ``math.ELEMWISE_OPS``, so it pickles as its name and unpickles as the
  registered op (equal, with the same rules); a ``Cast`` pickles as its
  dtype, a fusion ``Composite`` as its inner graph;
- a shared variable holds a lock, which pickles as nothing: the copy gets
  a fresh lock (and the value it had, as in Theano).

The reducers are registered with ``copyreg`` when this module loads, so no
op class carries pickling code; an op that is neither registered nor
reducible raises ``pickle.PicklingError`` naming it.
"""

from __future__ import annotations

import copyreg
import pickle
import threading

from theanine.graph.ops.composite import Composite
from theanine.graph.ops.elemwise import ScalarOp
from theanine.graph.ops.math import ELEMWISE_OPS, Cast
from theanine.graph.shared import SharedVariable

__all__ = ["registered_scalar_op", "reduce_shared", "rebuild_shared"]


def registered_scalar_op(name: str) -> ScalarOp:
    """The scalar op registered as ``name`` in ``ELEMWISE_OPS``."""
    if name not in ELEMWISE_OPS:
        raise pickle.UnpicklingError(f"no elementwise op is registered as {name!r}")
    return ELEMWISE_OPS[name].scalar_op


def _reduce_scalar_op(op: ScalarOp):
    registered = ELEMWISE_OPS.get(op.name)
    if registered is None or registered.scalar_op != op:
        raise pickle.PicklingError(
            f"the scalar op {op.name!r} is not registered in ELEMWISE_OPS, so it cannot be "
            "pickled by name (its implementation is a function)"
        )
    return registered_scalar_op, (op.name,)


def _reduce_cast(op: Cast):
    return Cast, (op.dtype,)


def _reduce_composite(op: Composite):
    return Composite, (op.inputs, op.outputs)


def reduce_shared(variable: SharedVariable):
    """``(rebuild, args)`` of a shared variable (of any subclass): its attributes but the lock, with
    its value on the host (a copy held in device memory stays with the original)."""
    state = {k: v for k, v in variable.__dict__.items() if k not in ("lock", "_device")}
    state["_value"], state["_device"] = variable.get_value(), None
    return rebuild_shared, (type(variable), state)


def rebuild_shared(cls, state: dict) -> SharedVariable:
    """A shared variable of class ``cls`` with ``state`` and a fresh lock."""
    variable = cls.__new__(cls)
    variable.__dict__.update(state)
    variable.lock = threading.RLock()
    return variable


copyreg.pickle(ScalarOp, _reduce_scalar_op)
copyreg.pickle(Cast, _reduce_cast)
copyreg.pickle(Composite, _reduce_composite)
copyreg.pickle(SharedVariable, reduce_shared)

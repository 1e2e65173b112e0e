"""Keras-style variables: shared variables with ``assign`` and ``numpy()``.

A layer's weights, a metric's state and an optimizer's slots are
``Variable``s.  They are shared variables (graph inputs whose value lives
in the variable), so every graph reads them as before; what Keras adds is
the way to write them:

- outside a traced step, ``v.assign(value)`` sets the value now;
- inside one (a custom ``train_step``, a metric's ``update_state`` being
  compiled, a layer's ``call``), it records ``(v, value)`` in the call
  context, and the compiled step writes it after it ran.  As in Theano,
  every read inside a step sees the value from before the step; a second
  ``assign_add`` on the same variable builds on the first one's value.

``numpy()`` is a copy of the current value, as Keras' ``Variable.numpy()``,
and ``shape`` the static shape as a tuple of ints, as Keras' ``Variable.shape``.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend import initializers
from theanine.frontend.call_context import current_call_context, pending_value
from theanine.graph.basic import Variable as GraphVariable
from theanine.graph.ops.math import cast
from theanine.graph.pickling import reduce_shared
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape

__all__ = ["Variable", "variable"]


class Variable(SharedVariable):
    """A shared variable that Keras code can ``assign`` to (see the module docstring).

    ``trainable`` (True unless ``add_weight(trainable=False)`` made it) is whether
    training updates it, as Keras' ``Variable.trainable``: set it to freeze one weight
    of a layer.
    """

    trainable = True

    def __init__(self, initializer, shape=None, dtype=None, trainable: bool = True, name: str | None = None):
        """Keras 3's ``keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``:
        ``initializer`` is a value (array-like) or an initializer (a name such as "zeros", an
        ``initializers`` object or a callable of ``(shape, dtype)``, which then needs ``shape``).
        ``variable(value, name)`` below is the frontend's own way to make one; ``Variable(value,
        TensorType, name=...)`` is the shared variable's constructor."""
        if isinstance(shape, TensorType):
            super().__init__(initializer, shape, name=name)
            return
        if isinstance(initializer, str) or isinstance(initializer, initializers.Initializer) or (
            callable(initializer) and not isinstance(initializer, np.ndarray)
        ):
            if shape is None:
                raise ValueError(f"Variable {name!r}: an initializer needs a shape. Received: shape=None")
            initializer = initializers.get(initializer)(tuple(shape), dtype or "float32")
        data = np.array(initializer, dtype=dtype or (None if np.asarray(initializer).dtype.kind != "f" else
                                                        "float32"), copy=True)
        if shape is not None and tuple(shape) != data.shape:
            raise ValueError(f"Variable {name!r}: the value has shape {data.shape}, not the given {tuple(shape)}")
        super().__init__(data, TensorType(data.dtype, data.shape), name=name)
        self.trainable = bool(trainable)

    def __reduce__(self):
        """Pickled as shared variables are (``graph/pickling.py``): its value, a fresh lock."""
        return reduce_shared(self)

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self.get_value()

    @property
    def value(self):
        """Keras 3's ``Variable.value``: the variable itself inside a layer's call or a traced step
        (where it is read symbolically), a copy of its current value outside one."""
        return self if current_call_context() is not None else self.get_value()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(variable)`` is its current value, as for a Keras variable."""
        value = self.get_value()
        return value if dtype is None else value.astype(dtype)

    @property
    def path(self) -> str | None:
        """Keras 3's name for the variable's full name (``dense/kernel``)."""
        return self.name

    def __repr__(self) -> str:
        shape = self.type.shape
        return f"<Variable path={self.name}, shape={shape}, dtype={self.dtype}>"

    @property
    def shape(self):
        """The static shape as a tuple of ints, as Keras' ``Variable.shape`` (``layer.weights[0].shape``);
        a variable with a flexible dimension (None) keeps the symbolic shape of a graph variable."""
        if None in self.type.shape:
            return super().shape
        return tuple(self.type.shape)

    def assign(self, value) -> Variable:
        """Set the value (now, or at the end of the step being traced)."""
        return self._write(value, lambda current, new: new)

    def assign_add(self, value) -> Variable:
        """Add ``value`` (now, or at the end of the step being traced)."""
        return self._write(value, lambda current, new: current + new)

    def assign_sub(self, value) -> Variable:
        """Subtract ``value`` (now, or at the end of the step being traced)."""
        return self._write(value, lambda current, new: current - new)

    def _write(self, value, combine) -> Variable:
        context = current_call_context()
        if context is None:
            if isinstance(value, GraphVariable):
                raise TypeError(
                    f"{self.label()}.assign: a symbolic value can only be assigned inside a "
                    "traced step (train_step, a metric's update_state, a layer's call); "
                    "outside one assign a NumPy array"
                )
            current = self.get_value(borrow=True)
            self.set_value(np.broadcast_to(combine(current, self._checked(value)), current.shape))
            return self
        new = combine(pending_value(context, self), as_tensor_variable(value))
        if not self.type.shape_compatible(new.type):
            raise ValueError(
                f"{self.label()}.assign: a value of type {new.type} does not fit the variable's "
                f"type {self.type}"
            )
        context.updates.append((self, cast(new, self.dtype)))
        return self

    def _checked(self, value) -> np.ndarray:
        array = np.asarray(value)
        target = self.get_value(borrow=True).shape
        try:
            fits = np.broadcast_shapes(array.shape, target) == target
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{self.label()}.assign: a value of shape {array.shape} does not fit the "
                f"variable's shape {target}"
            )
        return array.astype(self.dtype, copy=False)


def variable(value, name: str | None = None, shape=None, dtype=None) -> Variable:
    """A ``Variable`` holding a copy of ``value``, as ``th.shared`` makes shared variables.

    ``shape`` may declare dimensions flexible (None), as in ``th.shared``.
    """
    data = np.array(value, dtype=dtype, copy=True)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"a variable holds numeric arrays. Received dtype {data.dtype} for {name!r}")
    if shape is None:
        shape = data.shape
    elif len(shape) != data.ndim:
        raise ValueError(
            f"variable({name!r}): shape={format_shape(tuple(shape))} has {len(shape)} dims "
            f"but the value has {data.ndim}"
        )
    return Variable(data, TensorType(data.dtype, shape), name=name)

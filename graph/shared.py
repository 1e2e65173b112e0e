"""Shared variables: state (weights, optimizer slots, RNG keys) kept across calls."""

from __future__ import annotations

import threading

import numpy as np

from theanine.graph.basic import TensorVariable
from theanine.graph.type import TensorType, format_shape

__all__ = ["SharedVariable", "shared"]


class SharedVariable(TensorVariable):
    """A graph input whose value lives in the variable itself.

    Compiled functions read the current value at each call; ``updates``
    replace it after the call.  ``default_update`` (set by random streams)
    is an update every function that reads this variable applies unless
    the user's ``updates`` name the variable.

    ``lock`` guards the value: ``get_value``/``set_value`` take it, and a
    compiled call holds the locks of every shared variable it reads or
    updates from reading the state to writing the updates, so calls from
    several threads never see or leave a torn value.

    A device backend may keep the value in device memory between calls
    (``keep_device_copy``): a *device copy* is any object with ``memory``
    (the address space it lives in), ``shape``, ``to_host()`` and
    ``release()``.  An update computed on the device is then the only
    current value, copied to the host by the next ``get_value``;
    ``set_value`` replaces it (and the next call copies the new value in).
    """

    def __init__(self, value: np.ndarray, type: TensorType, name: str | None = None):
        super().__init__(type, name=name)
        self._value: np.ndarray | None = type.filter(value, self._what())
        self._device = None
        self.default_update: TensorVariable | None = None
        self.lock = threading.RLock()

    def _what(self) -> str:
        return f"shared variable {self.name or '<unnamed>'} of type {self.type}"

    def clone(self) -> SharedVariable:
        return self

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value (a copy unless ``borrow``); Theano's ``return_internal_type`` changes
        nothing: the value is always a NumPy array on the host."""
        with self.lock:
            if self._value is None:
                self._value = self._device.to_host()
            if borrow:  # the caller may write the array it gets: from now on that is the value
                self._drop_device_copy()
                return self._value
            return self._value.copy()

    def set_value(self, value, borrow: bool = False) -> None:
        """Replace the value after checking dtype and shape against the type.

        With ``borrow=True`` a C-contiguous ndarray of exactly the right type
        is kept without a copy (compiled functions use this for their updates
        and read the storage as contiguous).
        """
        fits = type(value) is np.ndarray and value.dtype == self.type.dtype
        if fits and self.type.check_value_shape(value.shape) is None:
            checked = value
        else:
            checked = self.type.filter(value, f"set_value of {self._what()}")
        kept = borrow and checked is value and checked.flags.c_contiguous
        stored = checked if kept else np.array(checked, copy=True, order="C")
        with self.lock:
            self._value = stored
            self._drop_device_copy()

    def device_copy(self, memory):
        """The device copy (see the class docstring) held in address space ``memory``, or None."""
        with self.lock:
            copy = self._device
            return copy if copy is not None and copy.memory == memory else None

    def keep_device_copy(self, copy, host_current: bool) -> None:
        """Hold ``copy`` as the value in device memory, releasing the copy it replaces.
        ``host_current``: the host value equals it (it was copied in from there); else ``copy``
        is the only current value (an update computed on the device)."""
        with self.lock:
            if copy is not self._device:
                self._drop_device_copy()
                self._device = copy
            if not host_current:
                self._value = None

    def _drop_device_copy(self) -> None:
        if self._device is not None:
            self._device.release()
            self._device = None

    def label(self) -> str:
        return self.name or f"shared<{self.type}>"


def shared(value, name: str | None = None, shape=None, dtype=None, strict: bool = False,
           borrow: bool = False) -> SharedVariable:
    """``th.shared(np.zeros(3, "float32"), name="b")``.

    The static shape is the value's shape unless ``shape`` declares some
    dims flexible, e.g. ``shape=(None, 3)`` lets set_value change the rows.
    Theano's ``borrow=True`` keeps ``value`` itself (a C-contiguous NumPy
    array of a numeric dtype, not copied) as the variable's storage; ``strict``
    is accepted (values are never cast after creation here: ``set_value``
    checks them against the type).
    """
    borrowable = borrow and isinstance(value, np.ndarray) and value.flags.c_contiguous and dtype in (None, value.dtype)
    data = value if borrowable else np.array(value, dtype=dtype, copy=True)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"th.shared holds numeric arrays. Received dtype {data.dtype} for {name!r}")
    if shape is None:
        shape = data.shape
    elif len(shape) != data.ndim:
        raise ValueError(
            f"th.shared({name!r}): shape={format_shape(tuple(shape))} has {len(shape)} dims "
            f"but the value has {data.ndim}"
        )
    return SharedVariable(data, TensorType(data.dtype, shape), name=name)

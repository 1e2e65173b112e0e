"""``InputSpec``: Keras' description of the inputs a layer accepts (rank, dtype, shape, axis sizes).

A layer may set ``self.input_spec`` (one spec, or a list of one per input)
and check its inputs with ``assert_input_compatibility(spec, inputs,
layer_name)``; ``Layer.__call__`` does not run the check itself.  Specs
round-trip through ``get_config``/``from_config`` as Keras'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from theanine.graph.type import normalize_dtype

__all__ = ["InputSpec", "assert_input_compatibility"]


def _optional_int(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"InputSpec: {what} must be an int >= 0 or None. Received: {what}={value!r}")
    return value


class InputSpec:
    """What a layer expects of one input; every field is optional (None: anything).

    ``shape`` fixes the rank and the sizes (None entries are free); ``axes``
    maps an axis (negative counts from the end) to its required size.
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze: bool = False, name: str | None = None, optional: bool = False):
        self.dtype = None if dtype is None else normalize_dtype(dtype)
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else _optional_int(ndim, "ndim")
        self.max_ndim, self.min_ndim = _optional_int(max_ndim, "max_ndim"), _optional_int(min_ndim, "min_ndim")
        self.name, self.optional = name, bool(optional)
        self.allow_last_axis_squeeze = bool(allow_last_axis_squeeze)
        if axes is not None and not isinstance(axes, Mapping):
            raise ValueError(f"InputSpec: axes must be a dict {{axis: size}}. Received: axes={axes!r}")
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        if self.ndim is not None and self.axes and max(self.axes) >= self.ndim:
            raise ValueError(f"InputSpec: axis {max(self.axes)} is out of range for ndim={self.ndim}")

    def __repr__(self) -> str:
        fields = {k: v for k, v in self.get_config().items() if v not in (None, {}, False)}
        return "InputSpec(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": dict(self.axes), "optional": self.optional}

    @classmethod
    def from_config(cls, config: dict) -> InputSpec:
        return cls(**config)


def _shape_of(tensor) -> tuple:
    """The static shape of a symbolic tensor or the shape of an array."""
    kind = getattr(tensor, "type", None)
    return tuple(kind.shape) if kind is not None and hasattr(kind, "shape") else tuple(tensor.shape)


def _mismatch(layer_name: str, index: int, what: str, shape) -> ValueError:
    return ValueError(f"Input {index} of layer {layer_name!r} is incompatible with the layer: {what}. "
                      f"Received: input shape {shape}")


def _check_one(spec: InputSpec, tensor, layer_name: str, index: int) -> None:
    shape = _shape_of(tensor)
    rank = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and rank != spec.ndim:
        raise _mismatch(layer_name, index, f"expected ndim={spec.ndim}, found ndim={rank}", shape)
    if spec.max_ndim is not None and rank > spec.max_ndim:
        raise _mismatch(layer_name, index, f"expected max_ndim={spec.max_ndim}, found ndim={rank}", shape)
    if spec.min_ndim is not None and rank < spec.min_ndim:
        raise _mismatch(layer_name, index, f"expected min_ndim={spec.min_ndim}, found ndim={rank}", shape)
    dtype = str(getattr(tensor, "dtype", ""))
    if spec.dtype is not None and dtype != spec.dtype:
        raise _mismatch(layer_name, index, f"expected dtype={spec.dtype}, found dtype={dtype}", shape)
    for axis, size in spec.axes.items():
        if not -rank <= axis < rank:
            raise _mismatch(layer_name, index, f"expected an axis {axis}", shape)
        if size is not None and shape[axis] not in (size, None):
            raise _mismatch(layer_name, index, f"expected axis {axis} of size {size}, found {shape[axis]}", shape)
    if spec.shape is not None and rank == len(spec.shape):
        for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=True)):
            if want is not None and got is not None and want != got:
                raise _mismatch(layer_name, index, f"expected shape={spec.shape} (axis {axis})", shape)


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """Raise a ValueError naming ``layer_name`` and the input when ``inputs`` break ``input_spec``."""
    if input_spec is None:
        return
    specs = list(input_spec) if isinstance(input_spec, Sequence) else [input_spec]
    tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(specs) != len(tensors):
        raise ValueError(f"Layer {layer_name!r} expects {len(specs)} input(s), but it received "
                         f"{len(tensors)} input tensors")
    for index, (spec, tensor) in enumerate(zip(specs, tensors, strict=True)):
        if spec is not None and not (spec.optional and tensor is None):
            _check_one(spec, tensor, layer_name, index)

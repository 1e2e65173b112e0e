"""``keras.config``: the few global settings Keras code reads, backed by ``th.config``.

``floatx()``/``set_floatx()`` are ``th.config.floatX`` (the default dtype of
layers, ``ops.ones`` and random draws); ``epsilon()`` is the fuzz factor the
losses and metrics use (1e-7, fixed); ``image_data_format()`` is
"channels_last" (layers take ``data_format`` per call); ``backend()`` names
theanine.  ``enable_unsafe_deserialization()`` exists for Keras code that
calls it before loading a model with a ``Lambda``: theanine never runs code
from a file (functions are found by name), so there is nothing to enable.
The module is also ``keras.backend`` (``keras.backend.floatx()``), where
``clear_session()`` lives: theanine keeps no global graph or name counters,
so it has nothing to clear.
"""

from __future__ import annotations

from theanine.graph.config import config
from theanine.graph.ops.nnet import EPSILON
from theanine.graph.type import is_float, normalize_dtype

__all__ = ["floatx", "set_floatx", "epsilon", "image_data_format", "backend", "enable_unsafe_deserialization",
           "clear_session"]


def floatx() -> str:
    """The default float dtype (``th.config.floatX``)."""
    return config.floatX


def set_floatx(value: str) -> None:
    """Set the default float dtype ("float16", "float32" or "float64")."""
    dtype = normalize_dtype(value)
    if not is_float(dtype):
        raise ValueError(f"set_floatx: expected a float dtype. Received: {value!r}")
    config.floatX = dtype


def epsilon() -> float:
    """The fuzz factor of losses and metrics."""
    return float(EPSILON)


def image_data_format() -> str:
    """Images are ``(batch, height, width, channels)`` unless a layer says otherwise."""
    return "channels_last"


def backend() -> str:
    """The backend's name, as ``keras.config.backend()``."""
    return "theanine"


def enable_unsafe_deserialization() -> None:
    """Nothing to enable: model files never carry code (see the module docstring)."""


def clear_session() -> None:
    """Keras' ``backend.clear_session``: nothing to clear (see the module docstring)."""

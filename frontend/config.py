"""``keras.config``: the global settings Keras code reads and writes, backed by ``th.config``.

``floatx()``/``set_floatx()`` are ``th.config.floatX`` (the default dtype of
layers, ``ops.ones`` and random draws); ``dtype_policy()`` follows it
(theanine's layers compute in one dtype, so the mixed policies are refused
by name).  The other settings are the frontend's section of ``th.config``
(``keras_settings.py``): ``epsilon()`` (read by ``ops`` normalizations;
the built-in losses and metrics keep Keras' default 1e-7), ``image_data_format()``
(the default of ``ops`` and of the layers' ``data_format=None``), the debugging caps
``max_epochs()`` / ``max_steps_per_epoch()`` that ``fit``/``evaluate``/
``predict`` obey, interactive logging (off: progress is one line per epoch),
and the traceback-filtering and flash-attention toggles, recorded only.
``enable_unsafe_deserialization()`` exists for Keras code that calls it
before loading a model with a ``Lambda``: theanine never runs code from a
file (functions are found by name), so there is nothing to enable.
``keras.backend`` (``backend.py``) re-exports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from theanine.frontend import keras_settings  # noqa: F401  (adds the frontend section to th.config)
from theanine.graph.config import config
from theanine.graph.type import is_float, normalize_dtype

__all__ = [
    "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format", "backend",
    "set_backend", "enable_unsafe_deserialization", "clear_session", "DTypePolicy", "dtype_policy",
    "set_dtype_policy", "max_epochs", "set_max_epochs", "max_steps_per_epoch", "set_max_steps_per_epoch",
    "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled",
    "enable_traceback_filtering", "disable_traceback_filtering", "is_traceback_filtering_enabled",
    "enable_flash_attention", "disable_flash_attention", "is_flash_attention_enabled", "is_nnx_enabled",
]


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
    """The fuzz factor (Keras' default 1e-7)."""
    return float(config.keras_epsilon)


def set_epsilon(value: float) -> None:
    """Set the fuzz factor ``epsilon()`` returns (a positive float)."""
    config.keras_epsilon = value


def image_data_format() -> str:
    """"channels_last" (``(batch, height, width, channels)``, the default) or "channels_first"."""
    return config.image_data_format


def set_image_data_format(data_format: str) -> None:
    """Set the default image layout of ``ops`` called with ``data_format=None``."""
    config.image_data_format = str(data_format).lower()


def backend() -> str:
    """The backend's name, as ``keras.config.backend()``."""
    return "theanine"


def set_backend(name: str) -> None:
    """Keras switches backends by reloading itself; theanine is its own backend, so only "theanine"
    is accepted (a no-op)."""
    if name != "theanine":
        raise ValueError(f"set_backend: theanine's frontend runs on theanine only; for Keras' {name!r} backend "
                         f"use Keras itself. Received: name={name!r}")


def enable_unsafe_deserialization() -> None:
    """Nothing to enable: model files never carry code (see the module docstring)."""


def clear_session() -> None:
    """Keras' ``backend.clear_session``: restart the ``get_uid`` counters (theanine keeps no global
    graph)."""
    from theanine.frontend import backend as backend_module

    backend_module.reset_uids()


@dataclass(frozen=True)
class DTypePolicy:
    """Keras' dtype policy: the dtype layers compute in and keep their weights in."""

    name: str

    @property
    def compute_dtype(self) -> str:
        return self.name

    @property
    def variable_dtype(self) -> str:
        return self.name


def dtype_policy() -> DTypePolicy:
    """The global policy: ``floatx()`` for both computation and weights."""
    return DTypePolicy(config.floatX)


def set_dtype_policy(policy) -> None:
    """Set the global policy: "float16", "float32" or "float64" (a name or a ``DTypePolicy``) sets
    ``floatx``; the mixed policies need layers that compute and store in two dtypes, which
    theanine's layers do not."""
    name = policy.name if isinstance(policy, DTypePolicy) else str(policy)
    if name.startswith("mixed_") or name == "bfloat16":
        raise NotImplementedError(f"set_dtype_policy({name!r}): theanine's layers compute and keep weights in "
                                  "one float dtype (float16, float32 or float64); set that dtype instead")
    if name not in ("float16", "float32", "float64"):
        raise ValueError(f"set_dtype_policy expects 'float16', 'float32' or 'float64'. Received: {policy!r}")
    config.floatX = name


def max_epochs() -> int | None:
    """The cap on ``fit``'s epochs (None: no cap)."""
    return config.max_epochs


def set_max_epochs(value: int | None) -> None:
    """Cap every ``fit`` at ``value`` epochs (a debugging aid, as Keras'; None removes the cap)."""
    config.max_epochs = value


def max_steps_per_epoch() -> int | None:
    """The cap on the steps of one epoch of ``fit``/``evaluate``/``predict`` (None: no cap)."""
    return config.max_steps_per_epoch


def set_max_steps_per_epoch(value: int | None) -> None:
    """Cap every epoch of ``fit``/``evaluate``/``predict`` at ``value`` steps (None removes it)."""
    config.max_steps_per_epoch = value


def enable_interactive_logging() -> None:
    """Progress bars redraw in place (the default)."""
    config.interactive_logging = True


def disable_interactive_logging() -> None:
    """Progress prints one line per epoch (for logs and files), as ``verbose=2`` does."""
    config.interactive_logging = False


def is_interactive_logging_enabled() -> bool:
    return config.interactive_logging


def enable_traceback_filtering() -> None:
    """Recorded only: theanine's errors already name the user's line."""
    config.traceback_filtering = True


def disable_traceback_filtering() -> None:
    """Recorded only (see ``enable_traceback_filtering``)."""
    config.traceback_filtering = False


def is_traceback_filtering_enabled() -> bool:
    return config.traceback_filtering


def enable_flash_attention() -> None:
    """Recorded only: theanine's attention has one implementation. (Keras' "enabled" is None: use
    flash attention where available.)"""
    config.flash_attention = None


def disable_flash_attention() -> None:
    """Recorded only (see ``enable_flash_attention``)."""
    config.flash_attention = False


def is_flash_attention_enabled() -> bool | None:
    """None (the default: where available) or False, as Keras returns it."""
    return config.flash_attention


def is_nnx_enabled() -> bool:
    """Flax NNX integration is a JAX-backend feature: never enabled here."""
    return False


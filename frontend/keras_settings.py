"""The frontend's settings (``keras.config``'s toggles), a section of ``th.config``.

``keras_epsilon`` (the fuzz factor ``config.epsilon()`` returns),
``image_data_format``, ``max_epochs`` / ``max_steps_per_epoch`` (debugging caps on
``fit``/``evaluate``/``predict``, None = no cap; Keras reads them from
``KERAS_MAX_EPOCHS`` and ``KERAS_MAX_STEPS_PER_EPOCH`` too, and so does
this section's default), ``interactive_logging`` (False: progress prints
one line per epoch instead of a redrawn bar), ``traceback_filtering`` and
``flash_attention`` (recorded for Keras code that sets and reads them:
theanine's tracebacks are never filtered and its attention has one kernel).
They live in ``th.config`` so that ``with th.config.context(max_epochs=1):``
scopes them like every other setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from theanine.graph.config import config

DATA_FORMATS = ("channels_last", "channels_first")


def _cap(value, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"config.{name} must be None (no limit) or a positive int. Received: {value!r}")


def _environment_cap(variable: str) -> int | None:
    """``KERAS_MAX_EPOCHS``-style caps from the environment (unset or empty: none)."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{variable} must be a positive integer. Received: {text!r}")
    return int(text)


@dataclass(frozen=True)
class FrontendSettings:
    """The settings ``keras.config`` reads and writes (see the module docstring)."""

    keras_epsilon: float = 1e-7
    image_data_format: str = "channels_last"
    max_epochs: int | None = None
    max_steps_per_epoch: int | None = None
    interactive_logging: bool = True
    traceback_filtering: bool = True
    flash_attention: bool | None = None

    def validate(self) -> None:
        if isinstance(self.keras_epsilon, bool) or not isinstance(self.keras_epsilon, (int, float)) \
                or not self.keras_epsilon > 0:
            raise ValueError(f"config.keras_epsilon must be a positive float. Received: {self.keras_epsilon!r}")
        if self.image_data_format not in DATA_FORMATS:
            raise ValueError(f"config.image_data_format must be one of {DATA_FORMATS}. "
                             f"Received: {self.image_data_format!r}")
        _cap(self.max_epochs, "max_epochs")
        _cap(self.max_steps_per_epoch, "max_steps_per_epoch")
        for name in ("interactive_logging", "traceback_filtering"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"config.{name} must be True or False. Received: {getattr(self, name)!r}")
        if self.flash_attention not in (None, True, False):
            raise ValueError(f"config.flash_attention must be None, True or False. Received: {self.flash_attention!r}")


config.add_section(FrontendSettings(max_epochs=_environment_cap("KERAS_MAX_EPOCHS"),
                                    max_steps_per_epoch=_environment_cap("KERAS_MAX_STEPS_PER_EPOCH")))

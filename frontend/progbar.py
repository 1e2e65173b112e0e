"""A Keras-style progress bar.

verbose=1 draws ``12/45 [=======>......................] - ETA: 1s - loss: 0.4123``
and, at the end of the epoch, ``45/45 [==============================] - 1s 6ms/step - loss: ...``.
On a terminal the bar is redrawn in place (carriage return); on a file or
a pipe only the final line is written, so logs stay readable.
verbose=2 writes one line per epoch: ``45/45 - 1s - 6ms/step - loss: ...``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import numpy as np

__all__ = ["Progbar", "format_value", "format_duration"]


def format_value(value) -> str:
    """Four decimals, or scientific notation for tiny magnitudes (as Keras prints); an array
    (a per-class metric) shows each entry so."""
    if np.ndim(value) > 0:
        return "[" + " ".join(format_value(v) for v in np.ravel(value)) + "]"
    value = float(value)
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"


def format_duration(seconds: float) -> str:
    """``1s``, ``1:05``, ``1:02:03`` for ETA and elapsed time."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_per_step(seconds: float, unit: str = "step") -> str:
    """``6ms/step``, ``120us/step`` or ``2s/step``."""
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """Progress of ``target`` steps; ``update(current, values)`` redraws it."""

    def __init__(
        self,
        target: int | None,
        width: int = 30,
        verbose: int = 1,
        interval: float = 0.05,
        stream=None,
        unit_name: str = "step",
    ):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stream = stream if stream is not None else sys.stdout
        self.unit_name = unit_name
        self.dynamic = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_width = 0

    def update(
        self, current: int, values: Mapping[str, float] | None = None, finalize: bool | None = None
    ) -> None:
        """Show step ``current`` with the given (already averaged) values."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.perf_counter()
        if self.verbose == 1:
            self._draw_bar(current, values or {}, finalize, now)
        elif self.verbose == 2 and finalize:
            elapsed = now - self.start
            text = (
                f"{current}/{'Unknown' if self.target is None else self.target} - "
                f"{format_duration(elapsed)} - "
                f"{format_per_step(elapsed / max(current, 1), self.unit_name)}"
                + _values_text(values or {})
            )
            self.stream.write(text + "\n")
            self.stream.flush()

    def _draw_bar(
        self, current: int, values: Mapping[str, float], finalize: bool, now: float
    ) -> None:
        if not finalize and (not self.dynamic or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        text = self._bar(current)
        if finalize:
            per_step = format_per_step(elapsed / max(current, 1), self.unit_name)
            text += f" - {format_duration(elapsed)} {per_step}"
        elif self.target is not None and current:
            text += f" - ETA: {format_duration(elapsed / current * (self.target - current))}"
        text += _values_text(values)
        padding = " " * max(self._last_width - len(text), 0)
        self._last_width = len(text)
        prefix = "\r" if self.dynamic else ""
        self.stream.write(prefix + text + padding + ("\n" if finalize else ""))
        self.stream.flush()

    def _bar(self, current: int) -> str:
        if self.target is None:
            return f"{current:7d}/Unknown"
        digits = len(str(self.target))
        done = int(self.width * min(current, self.target) / max(self.target, 1))
        arrow = ">" if current < self.target and done < self.width else ""
        body = "=" * (done - (1 if arrow and done else 0)) + arrow
        return f"{current:{digits}d}/{self.target} [{body.ljust(self.width, '.')}]"


def _values_text(values: Mapping[str, float]) -> str:
    return "".join(f" - {name}: {format_value(value)}" for name, value in values.items())

"""A Keras-style progress bar.

verbose=1 draws ``12/45 [=======>......................] - ETA: 1s - loss: 0.4123``
and, at the end of the epoch, ``45/45 [==============================] - 1s 6ms/step - loss: ...``.
On a terminal the bar is redrawn in place (carriage return); on a file or
a pipe only the final line is written, so logs stay readable.
verbose=2 writes one line per epoch: ``45/45 - 1s - 6ms/step - loss: ...``;
so does verbose=1 while interactive logging is off
(``keras.config.disable_interactive_logging()``).

Values come as a mapping of already averaged numbers (the training loop's
logs) or, as Keras' ``utils.Progbar`` takes them, a list of ``(name,
value_for_last_step)`` pairs: those are averaged over the steps since the
start, weighted by the steps each update covers, except the names in
``stateful_metrics``, which are shown as given.  ``add(n, values)``
advances by ``n`` steps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import numpy as np

from theanine.frontend import keras_settings  # noqa: F401  (the interactive_logging setting)
from theanine.graph.config import config

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
        stateful_metrics=None,
    ):
        self.target = target
        self.width = width
        self.verbose = 2 if verbose == 1 and not config.interactive_logging else verbose
        self.stateful_metrics = set(stateful_metrics or ())
        self._sums: dict[str, list[float]] = {}  # name -> [weighted sum, steps] of averaged pairs
        self._seen = 0
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
        """Show step ``current`` with ``values`` (a mapping shown as is, or ``(name, value)`` pairs)."""
        if values is not None and not isinstance(values, Mapping):
            values = self._averaged(current, values)
        self._seen = current
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

    def add(self, n: int, values=None) -> None:
        """Advance by ``n`` steps (Keras' ``Progbar.add``)."""
        self.update(self._seen + n, values)

    def _averaged(self, current: int, pairs) -> dict[str, float]:
        """Keras' running averages of ``(name, value)`` pairs, each weighted by the steps it covers."""
        steps = max(current - self._seen, 1)
        for name, value in pairs:
            if name in self.stateful_metrics:
                self._sums[name] = [float(np.mean(value)), 1]
            else:
                total = self._sums.setdefault(name, [0.0, 0])
                total[0] += float(np.mean(value)) * steps
                total[1] += steps
        return {name: total / max(count, 1) for name, (total, count) in self._sums.items()}

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

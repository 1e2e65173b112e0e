"""The one explicit configuration object of theanine.

Defaults live here and nowhere else; ``with config.context(floatX="float64"):``
changes them for a scope and restores them afterwards, even on error.  Code
in the IR never reads a setting deep inside an op: settings are read where a
user-facing constructor picks a default (``th.matrix`` takes ``floatX``) and
the chosen value is stored on the op or type, so graphs stay self-describing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

_FLOAT_DTYPES = ("float16", "float32", "float64")
_BACKENDS = ("numpy", "llvm", "cuda")
_MODES = ("fast_run", "fast_compile", "none")
_TEST_VALUE_MODES = ("off", "ignore", "warn", "raise")


def _default_cache_dir() -> str:
    env = os.environ.get("THEANINE_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "theanine")


@dataclass(frozen=True)
class Settings:
    """An immutable snapshot of every setting."""

    floatX: str = "float32"
    backend: str = "llvm"
    mode: str = "fast_run"
    cache_dir: str = ""
    use_cache: bool = True
    num_threads: int = 0
    compute_test_value: str = "off"
    seed: int | None = None

    def validate(self) -> None:
        if self.floatX not in _FLOAT_DTYPES:
            raise ValueError(f"config.floatX must be one of {_FLOAT_DTYPES}. Received: {self.floatX!r}")
        if self.backend not in _BACKENDS:
            raise ValueError(f"config.backend must be one of {_BACKENDS}. Received: {self.backend!r}")
        if self.mode not in _MODES:
            raise ValueError(f"config.mode must be one of {_MODES}. Received: {self.mode!r}")
        if self.compute_test_value not in _TEST_VALUE_MODES:
            raise ValueError(
                f"config.compute_test_value must be one of {_TEST_VALUE_MODES} (see graph/test_values.py). "
                f"Received: {self.compute_test_value!r}"
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64
        ):
            raise ValueError(
                f"config.seed must be None (seed from the OS) or an int in [0, 2**64). Received: {self.seed!r}"
            )
        if not isinstance(self.num_threads, int) or self.num_threads < 0:
            raise ValueError(
                f"config.num_threads must be an int >= 0 (0 = all cores). Received: {self.num_threads!r}"
            )


class Config:
    """Attribute access to the current settings, plus scoped changes."""

    def __init__(self) -> None:
        object.__setattr__(self, "_settings", Settings(cache_dir=_default_cache_dir()))
        object.__setattr__(self, "_default_streams", {})

    def default_stream(self, create, restart: bool = False):
        """The default random stream for the current ``seed`` (``th.random.uniform`` and friends).

        Streams are made by ``create(seed)`` on first use, kept per seed value,
        and made anew with ``restart`` (``th.set_seed``).  This is the one
        piece of process-wide state besides the settings, so it lives here.
        """
        seed = self.seed
        if restart or seed not in self._default_streams:
            self._default_streams[seed] = create(seed)
        return self._default_streams[seed]

    def __getattr__(self, name: str):
        return getattr(object.__getattribute__(self, "_settings"), name)

    def __setattr__(self, name: str, value) -> None:
        self._set(**{name: value})

    def _set(self, **changes) -> None:
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise AttributeError(f"unknown config setting(s) {unknown}; known: {sorted(known)}")
        new = replace(self._settings, **changes)
        new.validate()
        object.__setattr__(self, "_settings", new)

    @contextlib.contextmanager
    def context(self, **changes) -> Iterator[Config]:
        """Change settings inside a ``with`` block; restore them on exit."""
        saved = self._settings
        self._set(**changes)
        try:
            yield self
        finally:
            object.__setattr__(self, "_settings", saved)

    def __repr__(self) -> str:
        return f"Config({self._settings})"


config = Config()

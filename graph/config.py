"""The one explicit configuration object of theanine.

Settings come in sections, one frozen dataclass per part of theanine that
owns them: the graph's (``Settings`` below: dtypes, rewriting mode, seed)
live here, and a later part adds its own with ``config.add_section`` (the
runtime's backend, threads and cache: ``theanine.runtime.settings``), so
this module never names what the parts to its left define.  ``th.config``
shows every section's settings as attributes;
``with config.context(floatX="float64"):`` changes them for a scope and
restores them afterwards, even on error.  Code
in the IR never reads a setting deep inside an op: settings are read where a
user-facing constructor picks a default (``th.matrix`` takes ``floatX``) and
the chosen value is stored on the op or type, so graphs stay self-describing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

_FLOAT_DTYPES = ("float16", "float32", "float64")
_MODES = ("fast_run", "fast_compile", "none")
_TEST_VALUE_MODES = ("off", "ignore", "warn", "raise")


@dataclass(frozen=True)
class Settings:
    """The graph's settings, an immutable snapshot."""

    floatX: str = "float32"
    mode: str = "fast_run"
    compute_test_value: str = "off"
    seed: int | None = None

    def validate(self) -> None:
        if self.floatX not in _FLOAT_DTYPES:
            raise ValueError(f"config.floatX must be one of {_FLOAT_DTYPES}. Received: {self.floatX!r}")
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


class Config:
    """Attribute access to the current settings of every section, plus scoped changes."""

    def __init__(self) -> None:
        object.__setattr__(self, "_sections", (Settings(),))
        object.__setattr__(self, "_default_streams", {})

    def add_section(self, settings) -> None:
        """Add a part's settings (a frozen dataclass instance with ``validate()``); names must be new."""
        names = {f.name for f in fields(settings)}
        taken = names & self._names()
        if taken:
            raise ValueError(f"config settings {sorted(taken)} are already defined")
        settings.validate()
        object.__setattr__(self, "_sections", self._sections + (settings,))

    def _names(self) -> set[str]:
        return {f.name for section in self._sections for f in fields(section)} | set(self._aliases())

    def _aliases(self) -> dict:
        """Names a section derives from its settings (``ALIASES``: name -> (read the section, the
        settings a value stands for)), such as Theano's ``device`` for the runtime's ``backend``."""
        return {name: (section, rule) for section in self._sections
                for name, rule in getattr(section, "ALIASES", {}).items()}

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
        for section in object.__getattribute__(self, "_sections"):
            if name in section.__dataclass_fields__:
                return getattr(section, name)
        aliases = self._aliases()
        if name in aliases:
            section, (read, _) = aliases[name]
            return read(section)
        raise AttributeError(f"unknown config setting {name!r}; known: {sorted(self._names())}")

    def __setattr__(self, name: str, value) -> None:
        self._set(**{name: value})

    def _set(self, **changes) -> None:
        unknown = sorted(set(changes) - self._names())
        if unknown:
            raise AttributeError(f"unknown config setting(s) {unknown}; known: {sorted(self._names())}")
        aliases = self._aliases()
        for name in [n for n in changes if n in aliases]:
            changes = {**{k: v for k, v in changes.items() if k != name}, **aliases[name][1][1](changes[name])}
        sections = []
        for section in self._sections:
            mine = {k: v for k, v in changes.items() if k in section.__dataclass_fields__}
            if mine:
                section = replace(section, **mine)
                section.validate()
            sections.append(section)
        object.__setattr__(self, "_sections", tuple(sections))

    @contextlib.contextmanager
    def context(self, **changes) -> Iterator[Config]:
        """Change settings inside a ``with`` block; restore them on exit."""
        saved = {type(section): section for section in self._sections}
        self._set(**changes)
        try:
            yield self
        finally:  # a section added inside the block stays
            restored = tuple(saved.get(type(section), section) for section in self._sections)
            object.__setattr__(self, "_sections", restored)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(s, f.name)!r}" for s in self._sections for f in fields(s))
        return f"Config({shown})"


config = Config()

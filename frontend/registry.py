"""Keras' lookup of configurable objects by name, shared by the frontend families.

Initializers, regularizers, constraints, optimizers, learning-rate
schedules, losses and metrics each keep one ``Registry``: their built-in
classes under the class name and Keras' aliases (``"glorot_uniform"``,
``"adam"``, ``"mse"``).  It holds the rules Keras gives every family:

- ``lookup(name, custom_objects)``: a built-in, or a user class or function
  passed in ``custom_objects`` (a user entry wins over a built-in name);
- ``serialize(obj)``: ``{"class_name": ..., "config": obj.get_config()}``;
- ``deserialize(serialized, custom_objects)``: the reverse, through the
  class's ``from_config``;
- ``get(identifier, custom_objects)``: an instance as is, a name, a
  serialized dict or a class; whether None and plain callables are accepted
  is the family's choice.

``Configurable`` is the matching base class: a subclass names its
constructor arguments in ``config_names`` (as an op names its parameters
in ``__props__``) and inherits ``get_config`` and ``from_config``.

User objects are found by name in two places, as in Keras 3:

- ``custom_objects`` passed to a call, or made current for a block by
  ``custom_object_scope`` (a ``contextvars`` scope, restored on exit);
- ``register_serializable(package, name)``, Keras'
  ``register_keras_serializable``: a decorator that files a user class or
  function under ``"<package>><name>"``.  A saved file names the object
  by that registered name, so loading finds it without custom_objects.
  This table is the one process-wide registry of the frontend besides
  the built-in layer classes: it is written only by the decorator, when
  the user's module defines the object, and it is what makes the names
  in a file mean something in another process.

A file never carries code: a function is saved by its name
(``function_reference``), and loading refuses a name it cannot find.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "Configurable",
    "Registry",
    "register_serializable",
    "registered_name",
    "registered_object",
    "custom_object_scope",
    "get_custom_objects",
    "function_reference",
    "is_function_reference",
    "function_by_name",
    "get_registered_name",
    "get_registered_object",
]

_REGISTERED: dict[str, Any] = {}
_REGISTERED_NAMES: dict[Any, str] = {}


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator: make a class or function loadable by the name ``"<package>><name>"``.

    ``name`` defaults to the object's ``__name__``.  Registering a name again
    (re-running a notebook cell) files the new object under it.
    """
    if ">" in package:
        raise ValueError(f"package must not contain '>'. Received: package={package!r}")

    def decorate(obj):
        if not callable(obj):
            raise TypeError(
                f"register_serializable decorates classes and functions. Received: {obj!r}"
            )
        short = name or getattr(obj, "__name__", None)
        if not short or short == "<lambda>":
            raise ValueError(
                f"register_serializable needs a name for {obj!r}: pass name=... or use a def"
            )
        key = f"{package}>{short}"
        _REGISTERED[key] = obj
        _REGISTERED_NAMES[obj] = key
        return obj

    return decorate


def registered_name(obj) -> str:
    """The name ``obj`` is saved under: its registered name, else its ``__name__``."""
    return _REGISTERED_NAMES.get(obj) or getattr(obj, "__name__", "")


_CUSTOM_OBJECTS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "theanine_custom_objects", default=None
)


@contextlib.contextmanager
def custom_object_scope(custom_objects: Mapping[str, Any] | None) -> Iterator[None]:
    """Make user classes and functions resolvable by name inside the block."""
    merged = {**get_custom_objects(), **(custom_objects or {})}
    token = _CUSTOM_OBJECTS.set(merged)
    try:
        yield
    finally:
        _CUSTOM_OBJECTS.reset(token)


def get_custom_objects() -> Mapping[str, Any]:
    """The user objects of the innermost ``custom_object_scope``."""
    return _CUSTOM_OBJECTS.get() or {}


def registered_object(name: str, custom_objects: Mapping | None = None):
    """The user object called ``name``, or None.

    ``custom_objects`` (then the current scope's) by the full name or, for a
    registered name ``"package>fn"``, by ``"fn"``; then the registered objects.
    """
    custom = {**get_custom_objects(), **(custom_objects or {})}
    short = name.rpartition(">")[2]
    for key in (name, short):
        if key in custom:
            return custom[key]
    return _REGISTERED.get(name)


def get_registered_name(obj) -> str:
    """The name ``obj`` is saved under: ``"package>name"`` when registered, else its ``__name__``."""
    return registered_name(obj)


def get_registered_object(name: str, custom_objects=None, module_objects=None):
    """The object saved under ``name``: from ``custom_objects`` or the current scope, the registered
    objects, then ``module_objects`` (None when none has it)."""
    found = registered_object(name, custom_objects)
    if found is None and module_objects is not None:
        found = module_objects.get(name)
    return found

def function_reference(function: Callable, what: str) -> dict:
    """``{"class_name": "function", "config": <registered name>}``: a function saved by name."""
    name = registered_name(function)
    if not name or name == "<lambda>":
        raise ValueError(
            f"cannot save the {what} {function!r}: an anonymous function has no name to load it "
            "by. Define it with def and decorate it with @register_serializable() (or pass it "
            "in custom_objects when loading)"
        )
    return {"class_name": "function", "config": name}


def is_function_reference(value) -> bool:
    """Whether ``value`` is what ``function_reference`` writes."""
    return isinstance(value, Mapping) and value.get("class_name") == "function"


def function_by_name(
    name, what: str, custom_objects: Mapping | None = None, builtins: Mapping | None = None
) -> Callable:
    """The function saved as ``name``: a user one (see ``registered_object``), else one of
    ``builtins``; a clear error when there is none."""
    found = registered_object(str(name), custom_objects)
    if found is None and builtins:
        found = builtins.get(name)
    if not callable(found):
        short = str(name).rpartition(">")[2]
        raise ValueError(
            f"the {what} {name!r} is neither registered with @register_serializable nor in "
            f"custom_objects: pass custom_objects={{{short!r}: {short}}} when loading (a file "
            "never carries code)"
        )
    return found


class Configurable:
    """An object rebuilt from its constructor arguments, listed in ``config_names``."""

    config_names: tuple[str, ...] = ()

    def get_config(self) -> dict:
        """The constructor arguments named in ``config_names``, as JSON-able values."""
        return {name: getattr(self, name) for name in self.config_names}

    @classmethod
    def from_config(cls, config: dict):
        """A new object from ``get_config``'s dict."""
        return cls(**config)


class Registry:
    """The built-in entries of one family (``kind``, e.g. "initializer") and Keras' lookup rules.

    ``base`` is the family's base class: its instances are returned by ``get``
    as they are, its subclasses are instantiated with default arguments.
    """

    def __init__(
        self,
        kind: str,
        base: type,
        entries: Mapping[str, Any],
        *,
        accepts_none: bool = True,
        accepts_callables: bool = True,
    ):
        self.kind, self.base = kind, base
        self.entries = MappingProxyType(dict(entries))
        self.accepts_none, self.accepts_callables = accepts_none, accepts_callables

    def lookup(self, name, custom_objects: Mapping | None = None):
        """The entry called ``name``: a user object first (see ``registered_object``), else a built-in."""
        found = registered_object(str(name), custom_objects)
        if found is not None:
            return found
        if name in self.entries:
            return self.entries[name]
        raise ValueError(
            f"Unknown {self.kind} {name!r}. Expected one of {sorted(self.entries)}, a name "
            "registered with @register_serializable or a custom_objects name"
        )

    def serialize(self, obj) -> dict | None:
        """``{"class_name": ..., "config": ...}`` as ``deserialize`` reads it (None stays None)."""
        if obj is None:
            return None
        return {"class_name": registered_name(type(obj)), "config": obj.get_config()}

    def resolve(
        self, serialized: Mapping, custom_objects: Mapping | None = None
    ) -> tuple[Any, dict]:
        """The entry a serialized dict names and its config (for families that rebuild specially)."""
        if not isinstance(serialized, Mapping) or "class_name" not in serialized:
            raise ValueError(
                f"A serialized {self.kind} is a dict with 'class_name' and 'config'. Received: {serialized!r}"
            )
        found = self.lookup(serialized["class_name"], custom_objects)
        return found, dict(serialized.get("config") or {})

    def deserialize(self, serialized: Mapping, custom_objects: Mapping | None = None):
        """A new object from ``serialize``'s dict, through its class's ``from_config``."""
        found, config = self.resolve(serialized, custom_objects)
        return found.from_config(config)

    def get(self, identifier, custom_objects: Mapping | None = None):
        """An object from an instance (as is), a name, a serialized dict, a class or a callable."""
        if identifier is None and self.accepts_none:
            return None
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            return self.lookup(identifier, custom_objects)()
        if isinstance(identifier, Mapping):
            return self.deserialize(identifier, custom_objects)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if self.accepts_callables and callable(identifier):
            return identifier
        accepted = (
            "a name, a dict, a "
            + self.base.__name__
            + (" or a callable" if self.accepts_callables else "")
        )
        raise TypeError(
            f"Cannot interpret {identifier!r} as {_article(self.kind)} {self.kind}: expected {accepted}"
        )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"

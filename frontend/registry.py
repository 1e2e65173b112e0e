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
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["Configurable", "Registry"]


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
        """The entry called ``name``: from ``custom_objects`` first, else a built-in."""
        if custom_objects and name in custom_objects:
            return custom_objects[name]
        if name in self.entries:
            return self.entries[name]
        raise ValueError(
            f"Unknown {self.kind} {name!r}. Expected one of {sorted(self.entries)} or a custom_objects name"
        )

    def serialize(self, obj) -> dict | None:
        """``{"class_name": ..., "config": ...}`` as ``deserialize`` reads it (None stays None)."""
        if obj is None:
            return None
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def resolve(self, serialized: Mapping, custom_objects: Mapping | None = None) -> tuple[Any, dict]:
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
        accepted = "a name, a dict, a " + self.base.__name__ + (" or a callable" if self.accepts_callables else "")
        raise TypeError(f"Cannot interpret {identifier!r} as {_article(self.kind)} {self.kind}: expected {accepted}")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"

"""Keras' ``utils.Config``: a dict of named values read and written as attributes or items,
that can be frozen and written as JSON."""

from __future__ import annotations

import json

__all__ = ["Config"]


class Config:
    """``Config(learning_rate=0.1)``; ``config.seed = 1``; ``config["seed"]``; ``freeze()``."""

    def __init__(self, **kwargs):
        object.__setattr__(self, "_config", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """Refuse every later change (``ValueError``)."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self) -> None:
        object.__setattr__(self, "_frozen", False)

    def _check_mutable(self) -> None:
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self) -> dict:
        return dict(self._config)

    def to_json(self) -> str:
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def get(self, key, default=None):
        return self._config.get(key, default)

    def pop(self, *args):
        self._check_mutable()
        return self._config.pop(*args)

    def update(self, *args, **kwargs) -> None:
        self._check_mutable()
        self._config.update(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return self._config[name]
        except KeyError:
            raise AttributeError(f"Unknown attribute: '{name}'") from None

    def __setattr__(self, name: str, value) -> None:
        if name in type(self).__dict__:
            raise AttributeError(f"Cannot set attribute '{name}': it is a method or property of Config")
        self._check_mutable()
        self._config[name] = value

    def __delattr__(self, name: str) -> None:
        self._check_mutable()
        try:
            del self._config[name]
        except KeyError:
            raise AttributeError(f"Unknown attribute: '{name}'") from None

    def __getitem__(self, key):
        return self._config[key]

    def __setitem__(self, key, value) -> None:
        self._check_mutable()
        self._config[key] = value

    def __delitem__(self, key) -> None:
        self._check_mutable()
        del self._config[key]

    def __contains__(self, key) -> bool:
        return key in self._config

    def __len__(self) -> int:
        return len(self._config)

    def __iter__(self):
        return iter(self._config)

    def __repr__(self) -> str:
        return f"<Config {self._config}>"

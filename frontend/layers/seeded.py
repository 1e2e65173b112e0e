"""``SeededLayer``: the base of layers that draw random numbers (Dropout, the noise and the
augmentation layers).

Each draws from its own ``RandomStream``: an explicit ``seed`` fixes the
sequence, an unseeded layer takes the next of ``seeding.next_seed()`` (so
``th.set_seed`` makes runs reproducible); only an explicit seed is saved in
the config, as Keras does.
"""

from __future__ import annotations

import theanine as th
from theanine.frontend import seeding
from theanine.frontend.layers.base import Layer

__all__ = ["SeededLayer"]


class SeededLayer(Layer):
    """A layer with ``self.seed`` and its random stream ``self.stream``."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seeding.next_seed() if seed is None else seed)
        self._explicit_seed = seed is not None
        self.stream = th.random.RandomStream(self.seed)

    def get_config(self) -> dict:
        config = super().get_config()
        if self._explicit_seed:
            config["seed"] = self.seed
        return config

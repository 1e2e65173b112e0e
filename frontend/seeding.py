"""Seeds for the frontend's host-side randomness (weight initializers).

``next_seed()`` returns a deterministic sequence of integers derived from
the seed of the default random stream (``th.config.seed``).  Calling
``th.set_seed(n)`` creates a fresh default stream, and a fresh stream
restarts the sequence: building the same model twice after
``th.set_seed(n)`` gives identical weights, in one process or in two.
Without any seed (``config.seed = None``) the default stream is seeded from
the operating system once per process, so weights differ between runs, as
in Keras.

The position in the sequence is kept per default-stream object in a weak
dictionary, so it disappears with the stream it belongs to.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from theanine.graph.ops import random as th_random

__all__ = ["next_seed", "derive_seed"]

_POSITIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def derive_seed(seed: int, index: int) -> int:
    """The ``index``-th seed derived from ``seed``: a well-mixed int in ``[0, 2**63)``."""
    words = [seed & 0xFFFFFFFF, seed >> 32, index]
    low, high = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return (int(high) << 31) ^ int(low)


def next_seed() -> int:
    """The next seed of the sequence that ``th.set_seed`` restarts."""
    stream = th_random.default_stream()
    position = _POSITIONS.setdefault(stream, itertools.count())
    return derive_seed(stream.seed, next(position))

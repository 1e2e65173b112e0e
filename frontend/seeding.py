"""Seeds for the frontend's host-side randomness (weight initializers, shuffling).

``next_seed()`` returns a deterministic sequence of integers derived from
the seed of the default random stream (``th.config.seed``): the stream
itself counts the seeds it has handed out (``RandomStream.host_seed``).
Calling ``th.set_seed(n)`` creates a fresh default stream, and a fresh
stream restarts the sequence: building the same model twice after
``th.set_seed(n)`` gives identical weights, in one process or in two.
Without any seed (``config.seed = None``) the default stream is seeded from
the operating system once per process, so weights differ between runs, as
in Keras.
"""

from __future__ import annotations

from theanine.graph.ops import random as th_random
from theanine.graph.ops.random import derive_seed

__all__ = ["next_seed", "derive_seed"]


def next_seed() -> int:
    """The next seed of the sequence that ``th.set_seed`` restarts."""
    return th_random.default_stream().host_seed()

"""Runnable examples of the frontend: ``python -m theanine.frontend.examples.<name>``.

- ``gan``: a generative adversarial network trained by a custom loop
  (``th.grad`` / ``th.function`` with updates) instead of ``fit``.
- ``digits_cnn``: the convolutional digits model that ``python -m theanine``
  trains (a module of parts: the model and its shifted-image batches).
- ``multi_io``: a functional model with two inputs and two outputs, a loss,
  a loss weight and metrics per output.
- ``sequences``: sequences of digit images, a CNN per frame then an LSTM
  (the Keras introduction's CNN + RNN).
- ``text_lstm``: a character-level language model (Embedding with
  ``mask_zero`` -> LSTM -> TimeDistributed Dense) on generated sentences,
  padding masked in the loss.
- ``cartpole``: an advantage actor-critic agent that solves Gymnasium's
  CartPole-v1 (needs the ``examples`` extra: ``pip install "theanine[examples]"``).

Every example accepts ``--quick``, a run of a few seconds;
``tests/frontend/test_examples_gallery.py`` runs each module here that way.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def quick_and_seed(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The ``--quick`` and ``--seed`` options of an example (``description``: its docstring)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run of a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)

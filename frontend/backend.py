"""``keras.backend``: ``keras.config``'s settings plus the dtype and tensor helpers Keras keeps here.

``result_type``, ``standardize_dtype``, ``is_float_dtype`` and
``is_int_dtype`` come from ``dtype_rules``; ``is_keras_tensor`` is true for
a symbolic graph tensor (an ``Input`` or anything computed from one, not a
constant nor a weight); ``get_uid(prefix)`` counts calls per prefix from 1
until ``clear_session()`` restarts the counts, as Keras numbers layer names.
"""

from __future__ import annotations

from collections import Counter

from theanine.frontend.config import *  # noqa: F403
from theanine.frontend.config import __all__ as _config_names
from theanine.frontend.dtype_rules import is_float_dtype, is_int_dtype, result_type, standardize_dtype
from theanine.graph.basic import Constant, Variable
from theanine.graph.shared import SharedVariable

__all__ = [*_config_names, "result_type", "standardize_dtype", "is_float_dtype", "is_int_dtype", "is_keras_tensor",
           "get_uid"]

_UIDS: Counter = Counter()
"""Calls of ``get_uid`` per prefix (the module's one piece of state; ``clear_session`` empties it)."""


def get_uid(prefix: str = "") -> int:
    """1 on the first call with ``prefix``, then 2, 3, ... (until ``clear_session()``)."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def reset_uids() -> None:
    """Restart every ``get_uid`` count (``clear_session``)."""
    _UIDS.clear()


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor of a graph being built (not a constant, a weight or an array)."""
    return isinstance(x, Variable) and not isinstance(x, (Constant, SharedVariable))

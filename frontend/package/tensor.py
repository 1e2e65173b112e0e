"""``theanine.tensor``: Theano's ``theano.tensor`` name, and still ``th.tensor(name, dtype, shape)``.

Theano code starts with ``import theano.tensor as T`` (or ``from theano import
tensor as T``) and writes ``T.dmatrix``, ``T.grad``, ``T.nnet.sigmoid``; with
``import theanine.tensor as T`` every such name is theanine's of the same name
(``T.x`` is ``th.x``).  The module is also callable, because ``th.tensor`` is
theanine's constructor of a tensor variable (``th.tensor("x", "float32",
(None, 3))``): importing this module must not take that away.
"""

from __future__ import annotations

import sys
import types

from theanine.graph.tensor import tensor as _make_tensor


class _CallableModule(types.ModuleType):
    """A module that is also ``th.tensor``, the tensor-variable constructor."""

    def __call__(self, *args, **kwargs):
        return _make_tensor(*args, **kwargs)


def __getattr__(name: str):
    """``T.x`` is ``theanine.x`` (``T.dmatrix``, ``T.grad``, ``T.nnet``)."""
    if name.startswith("__"):
        raise AttributeError(name)
    import theanine

    return getattr(theanine, name)


sys.modules[__name__].__class__ = _CallableModule

"""theanine: symbolic graphs, rewrites, gradients, native code and a Keras-like frontend.

    import theanine as th
    x = th.matrix("x")
    f = th.function([x], th.tanh(x).sum(axis=1))
"""

import sys as _sys
from importlib import import_module as _import_module

from theanine.graph.config import config
from theanine.graph.basic import Apply, Constant, Variable, TensorVariable
from theanine.graph.type import TensorType
from theanine.graph.tensor import *  # noqa: F403
from theanine.graph.shared import *  # noqa: F403
from theanine.graph.ops.elemwise import Elemwise
from theanine.graph.ops.math import *  # noqa: F403
from theanine.graph.ops.reduce import *  # noqa: F403
from theanine.graph.ops.linalg import *  # noqa: F403
from theanine.graph.ops.shape import *  # noqa: F403
from theanine.graph.ops.subtensor import *  # noqa: F403
from theanine.graph.ops.creation import *  # noqa: F403
from theanine.graph.ops.nnet import *  # noqa: F403
from theanine.graph.ops.conv_functions import *  # noqa: F403
from theanine.graph.ops.pool_functions import *  # noqa: F403
from theanine.graph.ops.opfromgraph import *  # noqa: F403
from theanine.graph.ops import distributed, random, strings
from theanine.graph.ops.random import *  # noqa: F403
from theanine.graph.ops.sorting import ArgSort
from theanine.graph.ops.numpy_like import *  # noqa: F403
from theanine.graph.ops.scan import scan, until, map, reduce, foldl, foldr
from theanine.graph.ops.ifelse import ifelse
from theanine.graph.ops.print_op import Print
from theanine.graph.op import Op
from theanine.graph.gradient import *  # noqa: F403
from theanine.graph.printing import *  # noqa: F403
from theanine.graph.pretty_printing import pp
from theanine.graph.typed_constructors import *  # noqa: F403
from theanine.graph.rewriting import *  # noqa: F403
from theanine.graph.evaluate import evaluate
from theanine.runtime.function import Function, function
from theanine.runtime.inputs import In, Out, UnusedInputError
from theanine.runtime.modes import (
    BadThunkOutput,
    DebugMode,
    DebugModeError,
    Mode,
    NanGuardError,
    NanGuardMode,
)
from theanine.runtime.profiling import ProfileStats
from theanine.runtime.verify import verify_grad
tensor = _import_module("theanine.tensor")  # Theano's module name, still callable as th.tensor(...)

# Theano's module paths for names theanine keeps elsewhere, registered as aliases so that
# ``from theanine.ifelse import ifelse`` and ``from theanine.tensor.shared_randomstreams import
# RandomStreams`` read as the tutorials' imports do (th.ifelse stays the function).
_sys.modules.setdefault("theanine.ifelse", _import_module("theanine.graph.ops.ifelse"))
_sys.modules.setdefault("theanine.random", random)
_sys.modules.setdefault("theanine.tensor.shared_randomstreams", random)


__version__ = "0.1.0"


_LAZY = {"aot": "theanine.runtime.aot", "onnx": "theanine.onnx", "keras": "theanine.frontend",
         "printing": "theanine.printing", "nnet": "theanine.nnet"}


def __getattr__(name: str):
    """``th.aot`` and ``th.onnx`` are imported on first use: they load the LLVM backend and the onnx
    package, which ``import theanine`` never does.  ``th.keras`` is ``theanine.frontend`` (the
    Keras-like layer: ``th.keras.layers``, ``th.keras.Sequential``), for Keras users, and
    ``th.printing`` and ``th.nnet`` Theano's namespaces of those names (``printing.py``, ``nnet.py``)."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(_LAZY[name])
    raise AttributeError(f"module 'theanine' has no attribute {name!r}")

"""The backend registry: a backend turns an optimized graph into a callable.

A backend is a function ``compile(inputs, outputs) -> Compiled`` whose
``run`` takes one value per input (in order) and returns one value per
output, and whose ``python_fallbacks`` lists the nodes a compiled backend
could not translate and runs through their NumPy ``perform`` instead.
Backends register themselves by name; ``function(..., backend=name)``
looks them up here, so a new backend never edits the op classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from theanine.graph.basic import Apply, Variable

Runner = Callable[[Sequence], list]


@dataclass(frozen=True)
class Compiled:
    """What a backend returns: the callable and the nodes it runs in Python.

    ``bind_fast(fallback, single)``, when a backend offers it, returns an
    object whose ``call(*arrays)`` runs the whole call natively for plain
    ndarray arguments and calls ``fallback(*args)`` otherwise (or None when
    the graph does not qualify); ``single`` returns the one output itself.

    ``run_with_state(values, shared, updates)``, when a backend keeps shared
    variables in device memory, runs a call whose trailing inputs are the
    ``shared`` variables themselves (it reads each where it keeps it) and
    returns ``(outputs, new_values)``: the last ``updates`` outputs as device
    copies (see ``graph/shared.py``), which the function installs only once
    the call has succeeded.

    ``fused`` lists ``(node, into)`` pairs of nodes whose work the backend
    runs inside another node's step (a GEMM's epilogue), for ``explain()``.
    """

    run: Runner
    python_fallbacks: list[Apply] = field(default_factory=list)
    bind_fast: Callable | None = None
    run_with_state: Callable | None = None
    fused: list[tuple[Apply, Apply]] = field(default_factory=list)


Compiler = Callable[[Sequence[Variable], Sequence[Variable]], Compiled]

_BACKENDS: dict[str, Callable[[], Compiler]] = {}


def register_backend(name: str, loader: Callable[[], Compiler]) -> None:
    """Register ``loader``, which imports the backend lazily and returns its compiler."""
    _BACKENDS[name] = loader


def get_compiler(name: str) -> Compiler:
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {sorted(_BACKENDS)}")
    return _BACKENDS[name]()


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def _numpy_loader() -> Compiler:
    from theanine.runtime.numpy_backend import compile_numpy

    return compile_numpy


def _llvm_loader() -> Compiler:
    from theanine.runtime.llvm.backend import compile_llvm

    return compile_llvm


register_backend("numpy", _numpy_loader)
register_backend("llvm", _llvm_loader)


def _cuda_emulated_loader() -> Compiler:
    from theanine.runtime.cuda.emulated import compile_cuda_emulated

    return compile_cuda_emulated


def _cuda_loader() -> Compiler:
    from theanine.runtime.cuda.gpu import compile_cuda

    return compile_cuda


register_backend("cuda-emulated", _cuda_emulated_loader)
register_backend("cuda", _cuda_loader)

"""The runtime's settings: which backend compiles, on how many threads, and where objects are cached.

They join ``th.config`` as a section of their own (``config.add_section``)
when the runtime is imported, so the graph library never names them.
``backend`` accepts exactly the backends registered in
``theanine.runtime.backends``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from theanine.graph.config import config
from theanine.runtime.backends import available_backends
from theanine.runtime.inputs import UNUSED_INPUT_POLICIES


def default_cache_dir() -> str:
    """``THEANINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/theanine``, else ``~/.cache/theanine``."""
    env = os.environ.get("THEANINE_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "theanine")


@dataclass(frozen=True)
class RuntimeSettings:
    """``backend``: the default of ``function(backend=...)``; ``num_threads``: 0 = every core;
    ``compile_processes``: how many parts a function's module is split into, each compiled by a
    process of its own while the cores are idle (0 = every core; 1 keeps modules whole);
    ``cache_dir`` / ``use_cache``: the disk cache of compiled objects; ``on_unused_input``: the
    default of ``function(on_unused_input=...)``.  Theano's default is "raise"; theanine's is
    "warn" for now, since graphs built before the option existed (and their tests) compile
    functions of unused inputs; set it to "raise" for Theano's behaviour.  ``gemm_epilogues``:
    the llvm backend runs the bias add and activation after a product inside the product's step
    (``codegen/program/epilogues.py``); False keeps them separate passes (to measure the two).
    ``jit_blas``: whose OpenBLAS compiled products call, "numpy" (NumPy's own when it is the
    scipy-openblas64 build, else SciPy's) or "scipy"; bound when a compiled module loads."""

    ALIASES: ClassVar[dict] = {"device": (lambda settings: "cuda" if settings.backend == "cuda" else "cpu",
                                          lambda value: {"backend": _backend_of_device(value)})}
    """Theano's ``config.device``: "cpu" (the llvm backend) or "cuda" (read from and written to ``backend``)."""

    backend: str = "llvm"
    num_threads: int = 0
    compile_processes: int = 0
    cache_dir: str = ""
    use_cache: bool = True
    on_unused_input: str = "warn"
    gemm_epilogues: bool = True
    jit_blas: str = "numpy"

    def validate(self) -> None:
        if self.backend not in available_backends():
            raise ValueError(f"config.backend must be one of {available_backends()}. Received: {self.backend!r}")
        for name in ("num_threads", "compile_processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"config.{name} must be an int >= 0 (0 = all cores). Received: {value!r}")
        if not isinstance(self.cache_dir, str) or not self.cache_dir:
            raise ValueError(
                "config.cache_dir must be a non-empty path string (an empty one would fill the "
                f"current directory; use_cache=False turns the cache off). Received: {self.cache_dir!r}"
            )
        if not isinstance(self.use_cache, bool):
            raise ValueError(f"config.use_cache must be True or False. Received: {self.use_cache!r}")
        if not isinstance(self.gemm_epilogues, bool):
            raise ValueError(f"config.gemm_epilogues must be True or False. Received: {self.gemm_epilogues!r}")
        if self.jit_blas not in ("numpy", "scipy"):
            raise ValueError(f"config.jit_blas must be 'numpy' or 'scipy'. Received: {self.jit_blas!r}")
        if self.on_unused_input not in UNUSED_INPUT_POLICIES:
            raise ValueError(
                f"config.on_unused_input must be one of {UNUSED_INPUT_POLICIES}. "
                f"Received: {self.on_unused_input!r}"
            )


def _backend_of_device(device) -> str:
    """The backend Theano's ``device`` names: "cpu" the llvm backend, "cuda"/"cuda0"/"gpu" the cuda one."""
    if device == "cpu":
        return "llvm"
    if isinstance(device, str) and device.startswith(("cuda", "gpu")):
        return "cuda"
    raise ValueError(f"config.device must be 'cpu' or 'cuda' (Theano's 'cuda0', 'gpu' too). Received: {device!r}")


config.add_section(RuntimeSettings(cache_dir=default_cache_dir()))

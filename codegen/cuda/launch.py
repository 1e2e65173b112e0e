"""Launch configurations: the grid and block each printed kernel runs with.

The printer attaches a ``Launch`` to every kernel (how its threads map onto
the work, and the sizes, as shape expressions, that measure the work); a
runtime evaluates the sizes at call time and calls ``configure``.  The GPU
runtime and the CPU emulation both use this one function, so the emulation
runs every kernel with exactly the configuration the GPU would get.

Kinds:

- ``threads``: a grid-stride loop, one thread per item of ``prod(sizes)``;
- ``packs``: a grid-stride loop, one thread per ``sizes[-1]`` items of ``prod(sizes[:-1])`` (the
  packed elementwise loop);
- ``blocks``: one block per item (a block reduction);
- ``single``: one thread (sequential semantics: scatter-sets, compactions, argsorts);
- ``partials``: the first pass of a reduction of everything, one block per ``BLOCK`` items up
  to ``PARTIALS`` blocks; ``block``: one block (its second pass);
- ``gemm``: 16x16 tiles of the ``(m, n)`` product, one grid layer per matrix of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 256
"""Threads per block of ``threads`` and ``blocks`` kernels (a multiple of the 32-lane warp)."""
MAX_GRID = 4096
"""Most blocks of a grid-stride launch: enough to fill a large GPU several times over."""
TILE = 16
"""Side of a GEMM tile (``TH_TILE`` in the prelude)."""
MAX_GRID_YZ = 65535
PARTIALS = 1024
"""Most blocks of the first pass of a two-pass reduction (its partials fit one block's loop)."""
SCRATCH_BYTES = 8 * PARTIALS
"""The scratch buffer of a two-pass reduction: one partial of at most 8 bytes per block."""


@dataclass(frozen=True)
class Launch:
    kind: str
    sizes: tuple


def configure(launch: Launch, sizes: list[int]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(grid, block) for a kernel whose work sizes evaluated to ``sizes``."""
    total = 1
    for s in sizes:
        total *= max(int(s), 0)
    if launch.kind == "single":
        return (1, 1, 1), (1, 1, 1)
    if launch.kind == "threads":
        return (max(1, min(-(-total // BLOCK), MAX_GRID)), 1, 1), (BLOCK, 1, 1)
    if launch.kind == "packs":
        *items, pack = (max(int(s), 0) for s in sizes)
        threads = -(-_product(items) // max(pack, 1))
        return (max(1, min(-(-threads // BLOCK), MAX_GRID)), 1, 1), (BLOCK, 1, 1)
    if launch.kind == "blocks":
        return (max(1, min(total, MAX_GRID)), 1, 1), (BLOCK, 1, 1)
    if launch.kind == "partials":
        return (max(1, min(-(-total // BLOCK), PARTIALS)), 1, 1), (BLOCK, 1, 1)
    if launch.kind == "block":
        return (1, 1, 1), (BLOCK, 1, 1)
    if launch.kind == "gemm":
        m, n, *batch = (max(int(s), 0) for s in sizes)
        count = _product(batch)
        grid = (max(1, -(-n // TILE)), max(1, min(-(-m // TILE), MAX_GRID_YZ)), max(1, min(count, MAX_GRID_YZ)))
        return grid, (TILE, TILE, 1)
    raise ValueError(f"unknown launch kind {launch.kind!r}; expected threads, packs, blocks, partials, block, "
                     "single or gemm")


def _product(sizes) -> int:
    total = 1
    for s in sizes:
        total *= s
    return total

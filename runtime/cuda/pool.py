"""A device memory pool: blocks are kept and handed out again, never returned to the driver.

Sizes are rounded up to a size class (multiples of 512 bytes up to 64 KiB,
then powers of two split in four), so a training step with steady shapes
finds every block it needs free after its first call: ``allocations``
counts the blocks ever obtained from the device, and stays put from then
on (what the pool test checks).  A lock guards the free lists: a shared
variable gives its device copy's block back from whichever thread
replaces the copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def size_class(nbytes: int) -> int:
    """The size a request of ``nbytes`` is served with."""
    nbytes = max(int(nbytes), 1)
    if nbytes <= 1 << 16:
        return -(-nbytes // 512) * 512
    top = 1 << (nbytes - 1).bit_length()
    quarter = top // 8
    return -(-nbytes // quarter) * quarter


class Pool:
    """Free lists of blocks per size class over ``allocate(nbytes) -> block``."""

    def __init__(self, allocate: Callable[[int], object]):
        self._allocate = allocate
        self._free: dict[int, list] = {}
        self.allocations = 0
        self.bytes_allocated = 0
        self._lock = threading.Lock()

    def acquire(self, nbytes: int) -> tuple[int, object]:
        """A block of at least ``nbytes``, as (its size class, the block)."""
        size = size_class(nbytes)
        with self._lock:
            free = self._free.get(size)
            if free:
                return size, free.pop()
            self.allocations += 1
            self.bytes_allocated += size
        return size, self._allocate(size)

    def release(self, size: int, block) -> None:
        """Give a block back for later requests of its size class."""
        with self._lock:
            self._free.setdefault(size, []).append(block)

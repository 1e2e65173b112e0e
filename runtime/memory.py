"""Memory planning for compiled programs: temporaries share storage after their last use.

Sizes are symbolic until a call, so the plan is made of lifetimes (the step
that writes a buffer and the last step that reads it) and the storage is
assigned at each call: a temporary takes the smallest free block that
fits, growing one if none does.  Blocks are kept between calls, so a
training loop with steady shapes touches the same memory every step and
pays no page faults after the first.

Only temporaries that native steps write and native steps read take part:
outputs escape to the user, and a host call's ``perform`` may return views
of its inputs, which would outlive the lifetime computed here.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.program.kernel_ir import HostCall, Program, step_inputs, step_outputs


class MemoryPlan:
    """Lifetimes of the pooled temporaries and the blocks that hold them."""

    def __init__(self, program: Program):
        escaping = {a.buffer for a in program.outputs}
        host_read = {a.buffer for s in program.steps if isinstance(s, HostCall) for a in s.inputs}
        written_at: dict[int, int] = {}
        last_use: dict[int, int] = {}
        for index, step in enumerate(program.steps):
            if not isinstance(step, HostCall):
                for b in step_outputs(step):
                    written_at[b] = last_use[b] = index
            for access in step_inputs(step):
                last_use[access.buffer] = index
        self.pooled = {b for b in written_at if b not in escaping and b not in host_read}
        self.releases: dict[int, list[int]] = {}
        for b in self.pooled:
            self.releases.setdefault(last_use[b], []).append(b)
        self.blocks: list[np.ndarray] = []
        self._free: list[int] = []
        self._owner: dict[int, int] = {}
        self._released_upto = 0

    def start(self) -> None:
        """Begin a call: every block is free."""
        self._free = list(range(len(self.blocks)))
        self._owner = {}
        self._released_upto = 0

    def release_before(self, step: int) -> None:
        """Free the blocks of temporaries last used before ``step``."""
        for index in range(self._released_upto, step):
            for b in self.releases.get(index, ()):
                if b in self._owner:
                    self._free.append(self._owner.pop(b))
        self._released_upto = max(self._released_upto, step)

    def array(self, buffer: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """Storage for pooled ``buffer`` of ``shape`` and ``dtype``."""
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        block = self._take(max(size, 1))
        self._owner[buffer] = block
        return self.blocks[block][:size].view(dtype).reshape(shape)

    def _take(self, size: int) -> int:
        fitting = [k for k in self._free if self.blocks[k].size >= size]
        if fitting:
            chosen = min(fitting, key=lambda k: self.blocks[k].size)
        elif self._free:
            chosen = max(self._free, key=lambda k: self.blocks[k].size)
            self.blocks[chosen] = np.empty(size, dtype=np.uint8)
        else:
            self.blocks.append(np.empty(size, dtype=np.uint8))
            return len(self.blocks) - 1
        self._free.remove(chosen)
        return chosen

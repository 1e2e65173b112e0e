"""The worker threads that run native segments beside the calling thread.

Compiled segments release the GIL (they are called through ctypes), so N
Python threads calling the same segment with thread ids 0..N-1 run it on N
cores; the segment splits its loops and synchronizes with its own barrier.
This is theanine's whole threading layer: no OpenMP runtime is loaded, so
it cannot fight the BLAS library's threads for the cores.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Callable


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_count(setting: int) -> int:
    """``config.num_threads``: 0 means every available core."""
    return setting if setting > 0 else available_cores()


class WorkerPool:
    """``size`` daemon threads, each running the calls handed to it in order.

    Every ``run`` brings its own result queue, so calls from several Python
    threads at once (different compiled functions sharing the pool) each get
    back exactly their own results and errors.
    """

    def __init__(self, size: int):
        self._inboxes = [queue.SimpleQueue() for _ in range(size)]
        for inbox in self._inboxes:
            threading.Thread(target=self._serve, args=(inbox,), daemon=True, name="theanine-worker").start()

    @staticmethod
    def _serve(inbox: queue.SimpleQueue) -> None:
        while True:
            call, results = inbox.get()
            try:
                result = call()
            except BaseException as exc:  # handed back to the caller, which re-raises it
                result = exc
            del call  # the call's arrays must not stay referenced while this thread waits
            results.put(result)
            del result, results

    def run(self, calls: list[Callable]) -> list:
        """Run ``calls[0]`` here and the others on workers; return all results in order."""
        results = [queue.SimpleQueue() for _ in calls[1:]]
        for inbox, call, box in zip(self._inboxes, calls[1:], results, strict=False):
            inbox.put((call, box))
        first = calls[0]()
        others = [box.get() for box in results]
        for result in others:
            if isinstance(result, BaseException):
                raise result
        return [first] + others


@functools.cache
def worker_pool(size: int) -> WorkerPool:
    """The process's pool of ``size`` workers (created on first use)."""
    return WorkerPool(size)

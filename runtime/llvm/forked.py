"""LLVM work in short-lived forked children, several side by side.

llvmlite's pass builder leaks its instrumentation callbacks on every
optimization (tens of KiB per module, for as long as the process lives), so
a process that compiled many functions in-process would grow without bound;
a child takes that memory with it.  A crash inside LLVM also becomes an
error in the parent instead of the end of the user's process.  And since
llvmlite serializes every call into LLVM behind one lock, children are the
only way to use several cores for one module's parts.

A child answers through a pipe: a header (status, length) and the bytes, or
the text of the error it raised.  Its standard error goes to a temporary
file, so a child that dies (an LLVM assertion aborts it) is reported with
what it printed.
"""

from __future__ import annotations

import faulthandler
import os
import selectors
import struct
import tempfile
import threading
from collections.abc import Callable
from typing import Any

llvm_lock = threading.RLock()  # held by every call into LLVM from this process, and across a fork
_HEADER = struct.Struct("<BQ")  # status (0: the bytes, 1: an error's text), then the body's length


class _Child:
    """A forked child computing ``work(argument)``, and what it has answered so far."""

    def __init__(self, work: Callable[[Any], bytes], argument: Any):
        read_end, write_end = os.pipe()
        self.errors = tempfile.TemporaryFile()
        self.answer = bytearray()
        with llvm_lock:  # no other thread is inside LLVM (holding its locks) while we fork
            self.pid = os.fork()
        if self.pid == 0:
            os.close(read_end)
            self._run(work, argument, write_end)
        os.close(write_end)
        self.pipe = read_end

    def _run(self, work: Callable[[Any], bytes], argument: Any, write_end: int) -> None:
        faulthandler.disable()  # a Python traceback of the fork says nothing; LLVM's message does
        os.dup2(self.errors.fileno(), 2)
        status = 0
        try:
            body = work(argument)
        except BaseException as error:
            body, status = f"{type(error).__name__}: {error}".encode(), 1
        with os.fdopen(write_end, "wb") as out:
            out.write(_HEADER.pack(status, len(body)) + body)
        os._exit(status)

    def read(self) -> bool:
        """Take what the pipe holds; False once the child has closed it."""
        chunk = os.read(self.pipe, 1 << 20)
        self.answer += chunk
        return bool(chunk)

    def result(self) -> bytes | Exception:
        """The child's bytes, or the error that says why there are none.  A child that answered
        in full is reaped by a thread of its own, so its exit (unmapping the memory LLVM used)
        is not waited for; one that did not is reaped here, for its exit status."""
        os.close(self.pipe)
        with self.errors:
            if len(self.answer) >= _HEADER.size:
                status, length = _HEADER.unpack_from(self.answer)
                body = bytes(self.answer[_HEADER.size:])
                if len(body) == length:
                    threading.Thread(target=os.waitpid, args=(self.pid, 0), daemon=True).start()
                    if status:
                        return RuntimeError(f"LLVM failed to compile the module: {body.decode(errors='replace')}")
                    return body
            _, status = os.waitpid(self.pid, 0)
            self.errors.seek(0)
            printed = self.errors.read().decode(errors="replace").strip()[-2000:]
        return RuntimeError(f"the process compiling native code died ({_describe(status)})"
                            + (f": {printed}" if printed else ""))


def in_children(work: Callable[[Any], bytes], arguments: list, at_once: int,
                meanwhile: Callable[[], object] | None = None) -> list[bytes]:
    """``[work(a) for a in arguments]``, computed in forked children, ``at_once`` at a time.

    ``meanwhile()`` runs in this process once the first children have
    started.  Every child is reaped before the first error is raised.
    """
    results: list[bytes | Exception | None] = [None] * len(arguments)
    waiting = list(enumerate(arguments))
    running: dict[int, tuple[int, _Child]] = {}
    try:
        with selectors.DefaultSelector() as selector:
            while waiting or running:
                while waiting and len(running) < max(at_once, 1):
                    index, argument = waiting.pop(0)
                    child = _Child(work, argument)
                    running[child.pipe] = (index, child)
                    selector.register(child.pipe, selectors.EVENT_READ)
                if meanwhile is not None:
                    meanwhile, then = None, meanwhile
                    then()
                for key, _ in selector.select():
                    index, child = running[key.fd]
                    if not child.read():
                        selector.unregister(key.fd)
                        del running[key.fd]
                        results[index] = child.result()
    finally:  # interrupted: no child is left behind as a zombie
        for _, child in running.values():
            child.result()
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"

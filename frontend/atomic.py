"""Atomic replacement of a file, with temporary files that never accumulate.

``atomic_write(path)`` writes to a temporary file beside ``path``, flushes
it to disk and renames it over ``path``: readers see the old file or the
new one, never half of one, and a failure or a kill midway leaves the old
file intact.

The temporary is named after its target and its writer,
``.<name>.tmp-<pid>-<thread>``, so the leftovers of a writer that was
killed (SIGKILL, power loss: no handler runs) are recognizable: every save
to ``path`` first deletes the temporaries of ``path`` whose process no
longer exists.  Temporaries of live processes are left alone (they may be
saving right now).  On systems without POSIX signals only the failing
writer cleans up after itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write", "temporary_path", "stale_temporaries"]


def temporary_path(path) -> str:
    """The temporary this process and thread writes ``path`` through."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(directory, f".{name}.tmp-{os.getpid()}-{threading.get_native_id()}")


def stale_temporaries(path) -> list[str]:
    """The temporaries of ``path`` left by processes that no longer exist."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    pattern = re.compile(rf"\.{re.escape(name)}\.tmp-(\d+)-\d+")
    stale = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.listdir(directory)):
            match = pattern.fullmatch(entry)
            if match and not _process_exists(int(match.group(1))):
                stale.append(os.path.join(directory, entry))
    return stale


def _process_exists(pid: int) -> bool:
    """Whether a process ``pid`` runs (True where that cannot be told, to be safe)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def atomic_write(path) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it replaces ``path`` atomically, on failure it vanishes.

    Stale temporaries of ``path`` (see the module docstring) are deleted first.
    """
    path = os.fspath(path)
    for stale in stale_temporaries(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale)
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(os.path.dirname(temporary))


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

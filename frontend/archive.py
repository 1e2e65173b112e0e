"""Checked reading of model files: a zip of JSON and ``.npy`` entries, sizes checked first.

A model file comes from anywhere, so nothing it declares is trusted before
it is checked, and nothing is inflated before its declared size is:

- at open: every entry is stored or deflated (the only methods theanine
  writes) and not encrypted; its compressed size fits in the file; its
  declared size is one that method can produce from those bytes (at most
  ``MAX_DEFLATE_RATIO`` times them); and all declared sizes together stay
  under the reader's limit, ``max_bytes``.  By default that limit is
  ``max(DEFAULT_MIN_BYTES, DEFAULT_RATIO * file size)``: a file of random
  weights inflates to about its own size, while a 2 MB file declaring
  2 GiB of zeros is a decompression bomb;
- JSON entries are at most ``MAX_JSON_BYTES`` long and at most
  ``MAX_JSON_DEPTH`` levels deep;
- an ``.npy`` entry's header (dtype, shape) must account for exactly the
  bytes the entry declares, so a header claiming 2**40 elements is refused
  before any array exists; object dtypes (pickles) are refused;
- ``declared_bytes`` tells the loader how many bytes of weights the file
  holds, so that rebuilding the model from its config (``units=10**12``)
  cannot allocate more than that (see ``layers.base.weight_budget``).

Every refusal is a ``ValueError`` that names the file; the zip features
theanine does not write (encryption, other compression methods) are
refusals too, never ``NotImplementedError`` or ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

__all__ = [
    "Archive",
    "open_archive",
    "DEFAULT_MIN_BYTES",
    "DEFAULT_RATIO",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
]

DEFAULT_MIN_BYTES = 256 * 2**20
"""Content a file may always declare, however small it is (256 MiB)."""

DEFAULT_RATIO = 100
"""Beyond ``DEFAULT_MIN_BYTES``, content may be at most this many times the file's size."""

MAX_DEFLATE_RATIO = 1032
"""Deflate cannot expand data more than ~1032-fold; a larger declared size is a lie."""

MAX_JSON_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 100

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_ENCRYPTED = 0x1


class Archive:
    """A model file opened for checked reading; every failure is a ValueError naming the file."""

    def __init__(self, path, max_bytes: int | None = None):
        self.path = os.fspath(path)
        try:
            self.zip = zipfile.ZipFile(self.path, "r")
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(
                f"cannot read {self.path!r}: it is not a theanine file or it is "
                f"truncated/corrupt ({exc})"
            ) from exc
        try:
            self.entries = self._checked_entries(max_bytes)
        except BaseException:
            self.zip.close()
            raise

    def close(self) -> None:
        self.zip.close()

    # -- structure --------------------------------------------------------------------------------

    def _checked_entries(self, max_bytes: int | None) -> dict[str, zipfile.ZipInfo]:
        """The entries by name, after the checks of the module docstring."""
        file_size = os.path.getsize(self.path)
        entries: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            self._check_entry(info, file_size)
            if info.filename in entries:
                raise ValueError(f"{self.path!r} is corrupt: the entry {info.filename!r} repeats")
            entries[info.filename] = info
        declared = sum(info.file_size for info in entries.values())
        limit = (
            max(DEFAULT_MIN_BYTES, DEFAULT_RATIO * file_size) if max_bytes is None else max_bytes
        )
        if declared > limit:
            raise ValueError(
                f"{self.path!r} declares {declared} bytes of content in a file of {file_size} "
                f"bytes, more than the limit of {limit} bytes (a decompression bomb, or a model "
                "that compresses unusually well: pass max_bytes=... to load it)"
            )
        return entries

    def _check_entry(self, info: zipfile.ZipInfo, file_size: int) -> None:
        name = info.filename
        if info.flag_bits & _ENCRYPTED:
            raise ValueError(
                f"{self.path!r}: entry {name!r} is encrypted, which theanine files never are"
            )
        if info.compress_type not in _METHODS:
            raise ValueError(
                f"{self.path!r}: entry {name!r} uses zip compression method "
                f"{info.compress_type}; theanine reads only stored and deflated entries"
            )
        if info.compress_size > file_size or info.header_offset > file_size:
            raise ValueError(
                f"{self.path!r} is corrupt: entry {name!r} claims {info.compress_size} bytes "
                f"at offset {info.header_offset} in a file of {file_size} bytes"
            )
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else MAX_DEFLATE_RATIO
        if info.file_size > ratio * info.compress_size + 64:
            raise ValueError(
                f"{self.path!r} is corrupt: entry {name!r} declares {info.file_size} bytes, more "
                f"than {_METHODS[info.compress_type]} data of {info.compress_size} bytes can hold"
            )

    def names(self, folder: str) -> list[str]:
        """The ``.npy`` entries of ``folder``, checked to be numbered ``0..n-1``."""
        names = sorted(n for n in self.entries if n.startswith(f"{folder}/") and n.endswith(".npy"))
        expected = [f"{folder}/{i:05d}.npy" for i in range(len(names))]
        if names != expected:
            raise ValueError(
                f"{self.path!r} is corrupt: the entries of {folder}/ are not numbered "
                f"0..{len(names) - 1}"
            )
        return names

    # -- entries ----------------------------------------------------------------------------------

    def _info(self, name: str) -> zipfile.ZipInfo:
        if name not in self.entries:
            raise ValueError(f"{self.path!r} is incomplete: the entry {name!r} is missing")
        return self.entries[name]

    @contextlib.contextmanager
    def _reading(self, name: str) -> Iterator:
        """The entry's stream; read errors become ValueErrors naming the file and the entry."""
        info = self._info(name)
        try:
            with self.zip.open(info) as stream:
                yield stream
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise ValueError(
                f"{self.path!r} is corrupt: cannot read entry {name!r} ({exc})"
            ) from exc

    def read(self, name: str) -> bytes:
        """The whole entry (its declared size was checked at open)."""
        with self._reading(name) as stream:
            return stream.read()

    def json(self, name: str):
        """A JSON entry, at most ``MAX_JSON_BYTES`` long and ``MAX_JSON_DEPTH`` deep."""
        size = self._info(name).file_size
        if size > MAX_JSON_BYTES:
            raise ValueError(
                f"{self.path!r}: entry {name!r} holds {size} bytes of JSON, more than the "
                f"{MAX_JSON_BYTES} a theanine file needs"
            )
        try:
            value = json.loads(self.read(name).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{self.path!r} is corrupt: entry {name!r} is not valid JSON ({exc})"
            ) from exc
        except RecursionError as exc:
            raise ValueError(_too_deep(self.path, name)) from exc
        if json_depth(value) > MAX_JSON_DEPTH:
            raise ValueError(_too_deep(self.path, name))
        return value

    def header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` of an ``.npy`` entry, read without reading its data."""
        with self._reading(name) as stream:
            return self._header(name, stream)[:2]

    def array(self, name: str) -> np.ndarray:
        """An ``.npy`` entry whose header accounts for exactly the bytes the entry declares."""
        with self._reading(name) as stream:
            shape, dtype, fortran, nbytes = self._header(name, stream)
            data = stream.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"{self.path!r} is corrupt: entry {name!r} ends early")
        order = "F" if fortran else "C"
        return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order=order)

    def _header(self, name: str, stream) -> tuple[tuple[int, ...], np.dtype, bool, int]:
        """Parse the ``.npy`` header at the stream's start; check it against the entry's size."""
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            header_size = stream.tell()
        except (ValueError, EOFError, SyntaxError, TypeError) as exc:
            raise ValueError(
                f"{self.path!r} is corrupt: entry {name!r} is not a NumPy array ({exc})"
            ) from exc
        if dtype.hasobject:
            raise ValueError(
                f"{self.path!r}: entry {name!r} holds Python objects (a pickle), which theanine "
                "never loads"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        declared = self._info(name).file_size - header_size
        if nbytes != declared:
            raise ValueError(
                f"{self.path!r} is corrupt: entry {name!r} declares an array of shape {shape} "
                f"and dtype {dtype} ({nbytes} bytes) but holds {declared} bytes of data"
            )
        return tuple(shape), dtype, fortran, nbytes

    def arrays(self, folder: str) -> list[np.ndarray]:
        """Every array of ``folder``, in order."""
        return [self.array(name) for name in self.names(folder)]

    def declared_bytes(self, folder: str) -> int:
        """The data bytes the ``.npy`` entries of ``folder`` hold, from their checked headers."""
        total = 0
        for name in self.names(folder):
            shape, dtype = self.header(name)
            total += math.prod(shape) * dtype.itemsize
        return total


def json_depth(value) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar), without recursion."""
    depth, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, (Mapping, list)):
            depth = max(depth, level)
            children = item.values() if isinstance(item, Mapping) else item
            pending += [(child, level + 1) for child in children]
    return depth


def _too_deep(path: str, name: str) -> str:
    return (
        f"{path!r}: entry {name!r} nests JSON more than {MAX_JSON_DEPTH} levels deep; a "
        "theanine file never does"
    )


@contextlib.contextmanager
def open_archive(path, max_bytes: int | None = None) -> Iterator[Archive]:
    """``Archive(path, max_bytes)``, closed on exit."""
    archive = Archive(path, max_bytes)
    try:
        yield archive
    finally:
        archive.close()

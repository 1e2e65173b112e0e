"""Keras' ``utils.get_file`` without the network: files come from Keras' cache or a local origin.

theanine never downloads (see ``datasets.py``).  ``get_file`` keeps Keras'
cache layout (``$KERAS_HOME`` or ``~/.keras``, then ``cache_subdir``) and
its names for the cached file and the extraction folder, so a file Keras
already fetched is found where Keras put it.  A missing file is copied
from ``origin`` when that is a local path or a ``file://`` URL; for any
other origin a FileNotFoundError names the origin and the path to put the
file at.  ``file_hash`` (sha256, or md5, "auto" by its length) is checked
on the cached file and on the copy.  ``extract``/``untar`` unpack a tar or
zip archive (tar members through Python's "data" filter, zip members kept
inside the folder) and return the folder, as Keras does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.parse
import urllib.request
import zipfile

__all__ = ["get_file", "keras_home"]


def keras_home() -> str:
    """Keras' cache root: ``$KERAS_HOME``, else ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _file_hash(path: str, algorithm: str) -> str:
    hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _local_source(origin: str) -> str | None:
    """The local path ``origin`` names (a path or a ``file://`` URL), else None."""
    parts = urllib.parse.urlsplit(origin)
    if parts.scheme == "file":
        return urllib.request.url2pathname(parts.path)
    return origin if parts.scheme == "" else None


def _targets(fname, origin: str, datadir: str, unpack: bool) -> tuple[str, str | None]:
    """``(cached file, extraction folder or None)`` named as Keras names them."""
    name = str(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"get_file: cannot take a file name from origin {origin!r}; pass fname")
    if os.sep in name:
        raise ValueError(f"get_file: fname is a file name (the folder is cache_dir). Received: fname={fname!r}")
    if not unpack:
        return os.path.join(datadir, name), None
    if fname and "." in name:
        return os.path.join(datadir, name), os.path.join(datadir, f"{name[:name.find('.')]}_extracted")
    return os.path.join(datadir, f"{name}_archive"), os.path.join(datadir, name)


def _extract(archive: str, folder: str, archive_format: str) -> None:
    formats = ("tar", "zip") if archive_format == "auto" else (archive_format,)
    if "tar" in formats and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as opened:
            opened.extractall(folder, filter="data")
        return
    if "zip" in formats and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder)  # zipfile drops ".." and absolute parts of member names
        return
    raise ValueError(f"get_file: {archive!r} is not a {' or '.join(formats)} archive")


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of ``origin``'s file (or of its extracted folder): see the module docstring."""
    if origin is None:
        raise ValueError('get_file: give the "origin" of the file (its URL or local path)')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm == "auto":
        hash_algorithm = "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"
    datadir = os.path.join(os.path.expanduser(cache_dir or keras_home()), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    target, folder = _targets(fname, origin, datadir, extract or untar)
    cached = os.path.exists(target) and not force_download and (
        file_hash is None or _file_hash(target, hash_algorithm) == file_hash)
    if not cached:
        source = _local_source(origin)
        if source is None or not os.path.isfile(source):
            raise FileNotFoundError(f"get_file: theanine does not download; fetch {origin} and save it as {target}")
        shutil.copyfile(source, target)
        if file_hash is not None and _file_hash(target, hash_algorithm) != file_hash:
            os.remove(target)
            raise ValueError(f"get_file: the {hash_algorithm} hash of {origin} is not {file_hash}")
    if folder is None:
        return target
    _extract(target, folder, "tar" if untar else archive_format)
    return folder

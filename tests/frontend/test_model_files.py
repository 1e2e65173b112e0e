"""Hostile model files: every one is a ValueError naming the file, refused before inflating.

Each test crafts a file the reader must refuse: a decompression bomb,
``.npy`` headers and configs that declare absurd sizes, JSON nested too
deep, zip features theanine never writes.  None may end in MemoryError,
RecursionError, NotImplementedError or RuntimeError.
"""

import io
import json
import re
import struct
import zipfile
import zlib

import numpy as np
import pytest

from theanine.frontend import archive, layers, models

MiB = 2**20


def _saved_model(tmp_path):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.compile("adam", "mse")
    path = tmp_path / "m.theanine"
    model.save(path)
    return path


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as file:
        return {name: file.read(name) for name in file.namelist()}


def _write(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", compression) as file:
        for name, data in members.items():
            file.writestr(name, data)


def _patch(path, name: str, **fields) -> None:
    """Overwrite header fields of entry ``name`` in its local and central headers.

    ``fields``: flag, method, crc, usize (uncompressed size), as struct values.
    """
    data = bytearray(path.read_bytes())
    local = {"flag": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "usize": (22, "<I")}
    central = {"flag": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "usize": (24, "<I")}
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as file:
        offset = file.getinfo(name).header_offset
    for start, layout in ((offset, local), (_central_offset(data, name), central)):
        for field, value in fields.items():
            at, fmt = layout[field]
            struct.pack_into(fmt, data, start + at, value)
    path.write_bytes(bytes(data))


def _central_offset(data: bytearray, name: str) -> int:
    for match in re.finditer(rb"PK\x01\x02", data):
        start = match.start()
        (length,) = struct.unpack_from("<H", data, start + 28)
        if data[start + 46 : start + 46 + length] == name.encode():
            return start
    raise AssertionError(f"no central directory entry for {name}")


def _deflated_bomb(prefix: bytes, size: int) -> bytes:
    """A raw deflate stream of ``prefix`` then zeros, ``size`` bytes in all, in ~size/1000 bytes.

    After a full flush the compressor forgets its history, so compressing
    another MiB of zeros gives the same bytes: the stream repeats one chunk
    instead of compressing ``size`` bytes.
    """
    assert size % MiB == 0
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix + zeros[len(prefix) :]) + compressor.flush(zlib.Z_FULL_FLUSH)
    chunk = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + chunk * (size // MiB - 1) + compressor.flush()


def _replace_with_raw_deflate(path, name: str, stream: bytes, size: int) -> None:
    """Make entry ``name`` the deflate ``stream`` declaring ``size`` bytes (CRC left at 0:
    a reader that checks sizes first never gets far enough to compute it)."""
    members = _members(path)
    members[name] = stream
    _write(path, members, zipfile.ZIP_STORED)
    _patch(path, name, method=zipfile.ZIP_DEFLATED, crc=0, usize=size)


def _no_inflating(monkeypatch, name: str):
    """Make opening entry ``name`` a test failure."""
    real_open = zipfile.ZipFile.open

    def guarded(self, entry, *args, **kwargs):
        if getattr(entry, "filename", entry) == name:
            raise AssertionError(f"{name} was inflated")
        return real_open(self, entry, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", guarded)


def test_a_2mb_file_whose_weights_inflate_to_2gib_is_refused_before_inflating(
    tmp_path, monkeypatch
):
    path = _saved_model(tmp_path)
    size = 2 * 2**30
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": ((size - 128) // 4,)}
    )
    prefix = header.getvalue()
    prefix = prefix + bytes(128 - len(prefix))
    _replace_with_raw_deflate(path, "weights/00000.npy", _deflated_bomb(prefix, size), size)
    assert path.stat().st_size < 3 * MiB
    _no_inflating(monkeypatch, "weights/00000.npy")
    with pytest.raises(ValueError, match=rf"'{path}' declares \d+ bytes of content .* limit"):
        models.load_model(path)
    with pytest.raises(ValueError, match=rf"'{path}' declares"):
        models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)]).load_weights(path)


def test_the_content_limit_can_be_set_by_the_caller(tmp_path):
    path = _saved_model(tmp_path)
    with pytest.raises(ValueError, match=r"limit of 100 bytes .* pass max_bytes"):
        models.load_model(path, max_bytes=100)
    assert models.load_model(path).layers[0].kernel.get_value().shape == (3, 2)


def test_an_npy_header_declaring_2_40_elements_is_refused(tmp_path):
    path = _saved_model(tmp_path)
    members = _members(path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    )
    members["weights/00000.npy"] = header.getvalue() + bytes(24)
    _write(path, members)
    expected = rf"'{path}' is corrupt: entry 'weights/00000.npy' declares an array of shape "
    with pytest.raises(ValueError, match=expected + r"\(1099511627776,\).* holds 24 bytes"):
        models.load_model(path)


def _edit_model_json(path, edit) -> None:
    members = _members(path)
    description = json.loads(members["model.json"])
    edit(description)
    members["model.json"] = json.dumps(description).encode()
    _write(path, members)


@pytest.mark.parametrize(
    "units, message",
    [
        (
            10**12,
            r"dense.add_weight\('kernel'\) of shape \(3, 1000000000000\) needs 12000000000000",
        ),
        (1e12, r"expected a positive integer. Received: units=1000000000000.0"),
        (float("inf"), r"expected a positive integer. Received: units=inf"),
    ],
)
def test_a_config_with_absurd_units_is_refused_before_allocating(tmp_path, units, message):
    path = _saved_model(tmp_path)

    def set_units(description):
        description["model"]["config"]["layers"][0]["config"]["units"] = units

    _edit_model_json(path, set_units)
    with pytest.raises(ValueError, match=rf"cannot load '{path}': " + message):
        models.load_model(path)


@pytest.mark.parametrize("depth", [150, 200_000])
def test_deeply_nested_json_is_refused(tmp_path, depth):
    path = _saved_model(tmp_path)
    members = _members(path)
    members["model.json"] = b"[" * depth + b"]" * depth
    _write(path, members)
    with pytest.raises(ValueError, match=rf"'{path}': entry 'model.json' nests JSON more than 100"):
        models.load_model(path)


def test_an_oversized_json_entry_is_refused_before_inflating(tmp_path, monkeypatch):
    path = _saved_model(tmp_path)
    size = 65 * MiB
    _replace_with_raw_deflate(path, "model.json", _deflated_bomb(b"{}", size), size)
    _no_inflating(monkeypatch, "model.json")
    with pytest.raises(
        ValueError, match=rf"'{path}': entry 'model.json' holds {size} bytes of JSON"
    ):
        models.load_model(path)


def test_an_encrypted_entry_is_refused(tmp_path):
    path = _saved_model(tmp_path)
    _patch(path, "weights/00000.npy", flag=0x1)
    with pytest.raises(ValueError, match=rf"'{path}': entry 'weights/00000.npy' is encrypted"):
        models.load_model(path)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99])
def test_compression_methods_theanine_does_not_write_are_refused(tmp_path, method):
    path = _saved_model(tmp_path)
    _patch(path, "model.json", method=method)
    with pytest.raises(
        ValueError, match=rf"'{path}': entry 'model.json' uses zip compression method {method}"
    ):
        models.load_model(path)


def test_a_stored_entry_declaring_more_than_it_holds_is_corrupt(tmp_path):
    path = _saved_model(tmp_path)
    _write(path, _members(path), zipfile.ZIP_STORED)
    _patch(path, "weights/00001.npy", usize=10**6)
    with pytest.raises(ValueError, match=rf"'{path}' is corrupt: .* more than stored data"):
        models.load_model(path)


def test_json_depth_counts_nested_containers():
    assert archive.json_depth(3) == 0
    assert archive.json_depth([]) == 1
    assert archive.json_depth({"a": [1, {"b": []}]}) == 4

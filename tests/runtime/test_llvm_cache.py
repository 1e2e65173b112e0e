"""The on-disk object cache: hits across processes, concurrent writers, corrupt
entries, key changes, the off switch and the directory override."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import theanine as th
from theanine.runtime.llvm import cache as llvm_cache
from theanine.runtime.llvm.cache import (
    MAGIC,
    ObjectCache,
    cache_key,
    cached_compile_to_object,
    key_parts,
)

IR = "define i32 @answer() {\n  ret i32 42\n}\n"

# A child process: compile ``x * 2 + y`` under backend="llvm" (cache directory
# from THEANINE_CACHE_DIR), check the result, print the cache entries' names.
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import theanine as th
    from theanine.runtime.llvm import jit as llvm_jit
    if sys.argv[1] == "forbid-compile":
        def refuse(llvm_ir):
            raise AssertionError("compiled although the cache holds this module")
        llvm_jit.compile_to_objects = refuse
    if len(sys.argv) > 2:
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.001)
    x, y = th.vector("x"), th.vector("y")
    f = th.function([x, y], x * 2 + y, backend="llvm")
    a, b = np.arange(5, dtype="float32"), np.ones(5, dtype="float32")
    np.testing.assert_array_equal(f(a, b), a * 2 + b)
    print(th.config.cache_dir)
""")


class CountingCompiler:
    """Stands in for ``compile_to_object``: counts calls, returns bytes per IR."""

    def __init__(self):
        self.calls = 0

    def __call__(self, llvm_ir: str) -> bytes:
        self.calls += 1
        return b"object code for " + llvm_ir.encode()


def _entries(directory) -> list:
    objects = directory / "llvm-objects"
    return sorted(objects.iterdir()) if objects.exists() else []


def _run_child(cache_dir, *arguments) -> subprocess.Popen:
    env = {**os.environ, "THEANINE_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out.strip()


@pytest.fixture
def cache_dir(tmp_path):
    with th.config.context(cache_dir=str(tmp_path), use_cache=True):
        yield tmp_path


def test_second_compile_loads_the_stored_entry(cache_dir):
    compiler = CountingCompiler()
    first = cached_compile_to_object(IR, compiler)
    second = cached_compile_to_object(IR, compiler)
    assert compiler.calls == 1
    assert first == second == b"object code for " + IR.encode()
    (entry,) = _entries(cache_dir)
    assert entry.name == cache_key(key_parts(IR)) + ".obj"


def test_entry_is_magic_json_header_and_raw_bytes(cache_dir):
    payload = cached_compile_to_object(IR, CountingCompiler())
    data = _entries(cache_dir)[0].read_bytes()
    assert data.startswith(MAGIC)
    length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
    assert header["size"] == len(payload) and header["parts"] == key_parts(IR)
    assert data[len(MAGIC) + 4 + length :] == payload


def test_real_object_code_round_trips_and_runs(cache_dir):
    x, y = th.vector("x"), th.vector("y")
    th.function([x, y], th.exp(x) - y, backend="llvm")
    entry_times = [(p, p.stat().st_mtime_ns) for p in _entries(cache_dir)]
    assert entry_times
    g = th.function([x, y], th.exp(x) - y, backend="llvm")
    a, b = np.linspace(-2, 2, 7, dtype="float32"), np.full(7, 0.5, dtype="float32")
    np.testing.assert_allclose(g(a, b), np.exp(a) - b, rtol=1e-6)
    assert [(p, p.stat().st_mtime_ns) for p in _entries(cache_dir)] == entry_times


def _truncate(data: bytes) -> bytes:
    return data[: len(data) - 3]


def _flip_payload_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def _garble_header(data: bytes) -> bytes:
    return data[: len(MAGIC) + 4] + b"\xff" * 8 + data[len(MAGIC) + 12 :]


def _cut_to_magic(data: bytes) -> bytes:
    return data[: len(MAGIC) + 2]


@pytest.mark.parametrize(
    "corrupt",
    [
        _truncate,
        _flip_payload_byte,
        _garble_header,
        _cut_to_magic,
        lambda data: b"",
        lambda data: b"x" * 64,
    ],
)
def test_corrupt_entry_is_detected_and_rebuilt(cache_dir, corrupt, caplog):
    compiler = CountingCompiler()
    expected = cached_compile_to_object(IR, compiler)
    (entry,) = _entries(cache_dir)
    entry.write_bytes(corrupt(entry.read_bytes()))
    with caplog.at_level(logging.WARNING, logger=llvm_cache.__name__):
        assert cached_compile_to_object(IR, compiler) == expected
    assert compiler.calls == 2
    assert "corrupt cache entry" in caplog.text
    assert ObjectCache(cache_dir).load(cache_key(key_parts(IR))) == expected


def test_entry_of_another_key_is_not_loaded(cache_dir):
    compiler = CountingCompiler()
    cached_compile_to_object(IR, compiler)
    other_ir = IR.replace("42", "43")
    source = ObjectCache(cache_dir).path(cache_key(key_parts(IR)))
    source.rename(ObjectCache(cache_dir).path(cache_key(key_parts(other_ir))))
    assert cached_compile_to_object(other_ir, compiler) == b"object code for " + other_ir.encode()
    assert compiler.calls == 2


def test_corrupt_entry_of_a_real_function_still_computes(cache_dir):
    x = th.vector("x")
    th.function([x], th.sin(x) * 3, backend="llvm")
    for entry in _entries(cache_dir):
        entry.write_bytes(_flip_payload_byte(entry.read_bytes()))
    f = th.function([x], th.sin(x) * 3, backend="llvm")
    a = np.linspace(-3, 3, 11, dtype="float32")
    np.testing.assert_allclose(f(a), np.sin(a) * 3, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "part, value",
    [
        ("theanine", "99.0"),
        ("llvmlite", "0.0.1"),
        ("llvm", "1.2.3"),
        ("target", "other-cpu"),
        ("jit", "changed pipeline"),
    ],
)
def test_version_or_target_change_misses(cache_dir, monkeypatch, part, value):
    compiler = CountingCompiler()
    cached_compile_to_object(IR, compiler)
    changed = tuple(
        (name, value if name == part else old) for name, old in llvm_cache._environment_parts()
    )
    monkeypatch.setattr(llvm_cache, "_environment_parts", lambda: changed)
    cached_compile_to_object(IR, compiler)
    assert compiler.calls == 2
    assert len(_entries(cache_dir)) == 2


def test_key_depends_on_the_ir_text():
    assert cache_key(key_parts(IR)) != cache_key(key_parts(IR + "\n"))
    assert cache_key(key_parts(IR)) == cache_key(dict(reversed(list(key_parts(IR).items()))))


def test_disabled_cache_compiles_every_time_and_writes_nothing(tmp_path):
    compiler = CountingCompiler()
    with th.config.context(cache_dir=str(tmp_path / "cache"), use_cache=False):
        cached_compile_to_object(IR, compiler)
        cached_compile_to_object(IR, compiler)
        x = th.vector("x")
        f = th.function([x], x + 1, backend="llvm")
    assert compiler.calls == 2
    assert not (tmp_path / "cache").exists()
    np.testing.assert_array_equal(f(np.zeros(3, "float32")), np.ones(3, "float32"))


def test_unwritable_cache_directory_warns_and_still_compiles(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    compiler = CountingCompiler()
    with (
        th.config.context(cache_dir=str(blocker)),
        caplog.at_level(logging.WARNING, logger=llvm_cache.__name__),
    ):
        assert cached_compile_to_object(IR, compiler) == b"object code for " + IR.encode()
    assert "cannot write cache entry" in caplog.text


def test_concurrent_writers_and_readers_never_see_a_partial_entry(tmp_path):
    cache = ObjectCache(tmp_path)
    key, parts = cache_key(key_parts(IR)), key_parts(IR)
    payload = os.urandom(1 << 20)
    cache.store(key, parts, payload)
    loaded, failures = [], []

    def write():
        for _ in range(20):
            cache.store(key, parts, payload)

    def read():
        for _ in range(40):
            loaded.append(cache.load(key))

    threads = [threading.Thread(target=f) for f in (write, write, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [value for value in loaded if value != payload]
    assert len(loaded) == 40 and not failures
    assert [p.name for p in cache.directory.iterdir()] == [cache.path(key).name]


def test_two_processes_compile_at_once_then_a_third_loads_from_disk(tmp_path):
    cache_dir = tmp_path / "from-env"
    go = tmp_path / "go"
    racers = [_run_child(cache_dir, "compile", str(go)) for _ in range(2)]
    go.touch()
    assert [_finish(p) for p in racers] == [str(cache_dir)] * 2
    entries = _entries(cache_dir)
    assert entries and all(not p.name.startswith(".") for p in entries)
    stamps = [p.stat().st_mtime_ns for p in entries]
    assert _finish(_run_child(cache_dir, "forbid-compile")) == str(cache_dir)
    assert [p.stat().st_mtime_ns for p in _entries(cache_dir)] == stamps


def test_program_fingerprint_is_the_same_in_another_process_and_ignores_nodes():
    script = (
        "import theanine as th\n"
        "from theanine.codegen.llvm import scalar as llvm_scalar\n"
        "from theanine.codegen.program.lowering import lower\n"
        "from theanine.runtime.llvm.cache import program_fingerprint\n"
        "x = th.matrix('x')\n"
        "print(program_fingerprint(lower([x], [th.exp(x).sum(axis=1) + 1.5], llvm_scalar.supports)))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1] and "ReduceKernel" in runs[0] and "Apply" not in runs[0]


def test_cache_hit_skips_printing(tmp_path, monkeypatch):
    from theanine.runtime.llvm import backend as llvm_backend

    monkeypatch.setenv("THEANINE_CACHE_DIR", str(tmp_path))
    x = th.vector("x", dtype="float64")
    with th.config.context(cache_dir=str(tmp_path)):
        th.function([x], th.exp(x) * 3)

        def no_printing(*args, **kwargs):
            raise AssertionError("a cache hit must not print LLVM IR")

        monkeypatch.setattr(llvm_backend, "LLVMPrinter", no_printing)
        f = th.function([x], th.exp(x) * 3)
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), 3 * np.exp([0.0, 1.0]))


def test_every_code_generator_source_is_in_the_key():
    from theanine import codegen
    from theanine.runtime import cpython

    sources = set(llvm_cache.code_generator_sources())
    for package in (codegen, cpython):
        for path in Path(package.__file__).parent.rglob("*.py"):
            assert path in sources, path
    assert any(p.parent.name == "vmath" for p in sources)


def test_a_change_to_any_printer_source_changes_the_key(monkeypatch):
    """Each source file, altered by one byte, gives another fingerprint (and so another cache key)."""
    base = llvm_cache._jit_fingerprint.__wrapped__()
    read = Path.read_bytes
    seen = {base}
    for changed in llvm_cache.code_generator_sources():
        monkeypatch.setattr(Path, "read_bytes", lambda self, c=changed: read(self) + (b" " if self == c else b""))
        seen.add(llvm_cache._jit_fingerprint.__wrapped__())
    monkeypatch.setattr(Path, "read_bytes", read)
    assert len(seen) == len(llvm_cache.code_generator_sources()) + 1


def test_a_new_cache_folder_is_private_to_the_user(tmp_path):
    root = tmp_path / "cache"
    with th.config.context(cache_dir=str(root)):
        x = th.vector("x")
        th.function([x], x * 3.5 + 1)(np.ones(3, "float32"))
    folders = [root] + [p for p in root.rglob("*") if p.is_dir()]
    assert folders and all(p.stat().st_mode & 0o077 == 0 for p in folders)


@pytest.mark.parametrize("planted", ["another_program", "not_an_object"])
def test_an_entry_with_a_valid_checksum_but_other_code_is_refused_and_rebuilt(tmp_path, caplog, planted):
    """The cache folder is trusted, but an entry that decodes and holds other code is never run."""
    x = th.vector("x")
    value = np.arange(4, dtype="float32")
    folder = tmp_path / "llvm-objects"
    with th.config.context(cache_dir=str(tmp_path)):
        other = th.function([x], x * 7.0 + 1.0)
        before = set(folder.glob("*.obj"))
        th.function([x], th.exp(x) - 3.0)(value)
        (target,) = set(folder.glob("*.obj")) - before
        header_length = int.from_bytes(target.read_bytes()[8:12], "little")
        header = json.loads(target.read_bytes()[12:12 + header_length])
        other_bytes = sorted(before)[0].read_bytes()
        other_payload = other_bytes[12 + int.from_bytes(other_bytes[8:12], "little"):]
        payload = other_payload if planted == "another_program" else b"\x00" * 64
        target.write_bytes(llvm_cache._encode(header["key"], header["parts"], payload))
        with caplog.at_level(logging.WARNING):
            fresh = th.function([x], th.exp(x) - 3.0)
        np.testing.assert_allclose(fresh(value), np.exp(value) - 3.0, rtol=1e-6)
        np.testing.assert_allclose(other(value), value * 7 + 1)
    assert any("holds other code" in r.getMessage() for r in caplog.records)

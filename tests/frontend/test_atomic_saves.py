"""A save killed midway leaves the previous file loadable and its temporary is cleaned up."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from theanine.frontend import atomic, layers, models

_KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from theanine.frontend import layers, models, saving

    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    real_write = saving._write_array

    def slow_write(archive, name, array):
        real_write(archive, name, array)
        print("writing", flush=True)
        time.sleep(60)

    saving._write_array = slow_write
    model.save(sys.argv[1])
    """
)


def _model(seed_value):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.set_weights([np.full((3, 2), seed_value, "float32"), np.zeros(2, "float32")])
    return model


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_a_save_killed_midway_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "m.theanine"
    _model(1.0).save(path)
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "m.theanine")
    assert len(leftovers) == 1 and leftovers[0].startswith(f".m.theanine.tmp-{writer.pid}-")
    np.testing.assert_array_equal(models.load_model(path).get_weights()[0], np.ones((3, 2)))
    _model(2.0).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.theanine"]
    np.testing.assert_array_equal(models.load_model(path).get_weights()[0], np.full((3, 2), 2.0))


@pytest.mark.skipif(os.name != "posix", reason="tells dead processes by signal 0")
def test_only_temporaries_of_dead_processes_of_the_same_target_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        "dead": f".w.weights.tmp-{dead.pid}-7",
        "mine": f".w.weights.tmp-{os.getpid()}-7",
        "parent": f".w.weights.tmp-{os.getppid()}-7",
        "other target": f".x.weights.tmp-{dead.pid}-7",
        "not ours": f".w.weights.tmp-{dead.pid}-7.bak",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    assert atomic.stale_temporaries(tmp_path / "w.weights") == [str(tmp_path / names["dead"])]
    _model(1.0).save_weights(tmp_path / "w.weights")
    remaining = {p.name for p in tmp_path.iterdir()}
    assert remaining == {"w.weights"} | (set(names.values()) - {names["dead"]})


def test_a_failed_write_removes_its_own_temporary(tmp_path):
    path = tmp_path / "f.bin"
    with pytest.raises(KeyboardInterrupt), atomic.atomic_write(path) as handle:
        handle.write(b"half")
        assert os.path.exists(atomic.temporary_path(path))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []

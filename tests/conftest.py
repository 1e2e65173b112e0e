"""Shared pytest setup: the backends every op table runs under."""

import numpy as np
import pytest

from theanine.runtime.backends import available_backends

BACKENDS = [b for b in available_backends() if b != "cuda"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

"""Float -> integer casts give one documented result in every backend and every kernel context.

NumPy leaves out-of-range conversions to the platform; theanine's rule
(``float_to_integer``) is NumPy's x86-64 result for float32 and float64
sources, applied to every source dtype.  LLVM's own conversions are poison
out of range, so without the rule the result changed with the surrounding
kernel: here the cast stands alone, is fused with arithmetic before and
after it, and feeds a reduction.
"""

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.math import float_to_integer

SPECIAL = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 300.7, -300.7, 65535.9, 70000.2, 2.0**31, -(2.0**31), 2.0**31 + 0.5,
           2.0**32 + 5, 1e10, -1e10, 2.0**63, -(2.0**63), 2.0**63 + 2**40, -(2.0**63) - 2**40, 2.0**64, 1e30,
           -1e30, np.nan, np.inf, -np.inf]
INTEGERS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def _values(source: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        special = np.array(SPECIAL).astype(source)
        sweep = np.random.default_rng(0).uniform(-3e9, 3e9, 200).astype(source)
    return np.concatenate([special, sweep])


@pytest.mark.parametrize("source", ["float32", "float64"])
@pytest.mark.parametrize("target", INTEGERS)
def test_the_rule_is_numpys_x86_result(source, target):
    values = _values(source)
    with np.errstate(invalid="ignore"):
        expected = values.astype(target)
    np.testing.assert_array_equal(float_to_integer(values, target), expected)


CONTEXTS = {
    "alone": lambda v, t: th.cast(v, t),
    "fused_before": lambda v, t: th.cast(v * 1.0 + 0.0, t),
    "fused_after": lambda v, t: th.cast(v, t) * 1,
    "reduced": lambda v, t: th.cast(v, t).reshape((1, -1)).max(axis=0),
}


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
@pytest.mark.parametrize("context", sorted(CONTEXTS))
@pytest.mark.parametrize("source", ["float16", "float32", "float64"])
@pytest.mark.parametrize("target", INTEGERS)
def test_every_backend_and_context_gives_the_rule(backend, context, source, target):
    v = th.vector("v", dtype=source)
    f = th.function([v], CONTEXTS[context](v, target), backend=backend)
    values = _values(source)
    got = f(values)
    assert got.dtype == np.dtype(target)
    np.testing.assert_array_equal(got, float_to_integer(values, target))

"""``bitcast`` (graph/ops/bitcast.py, ONNX's BitCast): bits reinterpreted as NumPy's ``view`` does, under every
backend."""

from __future__ import annotations

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.bitcast import bitcast

PAIRS = [("float32", "int32"), ("int64", "float64"), ("bool", "uint8"), ("uint16", "int16"), ("int8", "uint8")]


@pytest.mark.parametrize(("source", "target"), PAIRS)
@pytest.mark.parametrize("shape", [(), (3, 4)])
def test_bitcast_matches_numpy_view(source, target, shape, backend):
    values = np.random.default_rng(0).standard_normal(shape) * 1000
    values = np.asarray(values > 0 if source == "bool" else values.astype(source))
    x = th.tensor("x", source, shape)
    y = bitcast(x.T, target)  # a transposed (non-contiguous) input reads its elements, not its memory
    got = th.function([x], y, backend=backend)(values)
    assert got.dtype == np.dtype(target) and got.shape == values.T.shape
    np.testing.assert_array_equal(got, np.ascontiguousarray(values.T).view(target))


def test_bitcast_needs_equal_widths():
    with pytest.raises(TypeError, match=r"float32 \(4 bytes\) cannot be read as float64 \(8 bytes\)"):
        bitcast(th.tensor("x", "float32", (2,)), "float64")

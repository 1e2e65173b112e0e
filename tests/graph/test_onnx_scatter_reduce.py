"""ONNX ScatterElements / ScatterND with reduction mul, max and min (codegen/onnx/import_scatter.py).

Many repeated indices (several rounds), float and integer data, the indices
fed at run time, against onnx's reference evaluator, under every backend.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402

DTYPES = {"float32": TensorProto.FLOAT, "int32": TensorProto.INT32}


def _model(op: str, reduction: str, dtype: str, **attrs):
    node = helper.make_node(op, ["data", "indices", "updates"], ["y"], reduction=reduction, **attrs)
    inputs = [helper.make_tensor_value_info("data", DTYPES[dtype], None),
              helper.make_tensor_value_info("indices", TensorProto.INT64, None),
              helper.make_tensor_value_info("updates", DTYPES[dtype], None)]
    graph = helper.make_graph([node], "scatter", inputs, [helper.make_tensor_value_info("y", DTYPES[dtype], None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _check(model, feeds, backend):
    expected = ReferenceEvaluator(model).run(None, feeds)[0]
    graph = th.onnx.load(model, input_shapes={k: v.shape for k, v in feeds.items()})
    f = th.function(graph.inputs, graph.outputs[0], backend=backend)
    got = f(*(feeds[name] for name in graph.input_names))
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("reduction", ["mul", "max", "min"])
def test_scatter_elements_reductions(reduction, dtype, backend):
    rng = np.random.default_rng(1)
    data = rng.integers(-4, 5, (3, 6)).astype(dtype)
    indices = rng.integers(-6, 6, (3, 8)).astype(np.int64)  # 8 updates per row into 6 places: repeats
    updates = rng.integers(-3, 4, (3, 8)).astype(dtype)
    _check(_model("ScatterElements", reduction, dtype, axis=1), {"data": data, "indices": indices,
                                                                   "updates": updates}, backend)


@pytest.mark.parametrize("reduction", ["mul", "max", "min"])
def test_scatter_nd_reductions(reduction, backend):
    rng = np.random.default_rng(2)
    data = rng.standard_normal((4, 3, 2)).astype(np.float32)
    indices = np.array([[0, 1], [3, 2], [0, 1], [0, 1], [2, 0]], np.int64)  # rows of (i, j): (0, 1) three times
    updates = rng.standard_normal((5, 2)).astype(np.float32)
    _check(_model("ScatterND", reduction, "float32"), {"data": data, "indices": indices, "updates": updates},
           backend)

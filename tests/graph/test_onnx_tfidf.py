"""ONNX TfIdfVectorizer (codegen/onnx/import_text.py) with the tokens fed at run time.

Uni-, bi- and trigrams with skips, the three modes with weights, a column
shared by two n-grams, 1-D and 2-D inputs, against onnx's reference under
every backend; a string pool over a string input; a pool of the other kind is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402

POOL = {"pool_int64s": [2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 3, 3, 3], "ngram_counts": [0, 4, 10],
        "ngram_indexes": [0, 1, 2, 3, 4, 5, 6, 3]}


def _model(mode: str, **attrs):
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode=mode, **POOL, **attrs)
    graph = helper.make_graph([node], "tfidf", [helper.make_tensor_value_info("x", TensorProto.INT64, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("shape", [(14,), (3, 9)])
def test_tfidf_matches_onnx(mode, shape, backend):
    model = _model(mode, min_gram_length=1, max_gram_length=3, max_skip_count=2,
                   weights=[0.5, 1.0, 2.0, 1.5, 0.25, 3.0, 1.0, 2.5])
    x = np.random.default_rng(len(shape)).integers(2, 9, shape).astype(np.int64)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    graph = th.onnx.load(model, input_shapes={"x": shape})
    got = th.function(graph.inputs, graph.outputs[0], backend=backend)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def _string_pool_model(input_type):
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TFIDF", pool_strings=["a", "b", "a", "b", "b", "c"],
                            ngram_counts=[0, 2], ngram_indexes=[0, 1, 2, 3], min_gram_length=1, max_gram_length=2,
                            max_skip_count=1, weights=[1.0, 0.5, 2.0, 3.0])
    graph = helper.make_graph([node], "tfidf", [helper.make_tensor_value_info("x", input_type, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])


def test_a_string_pool_counts_string_ngrams(backend):
    model = _string_pool_model(TensorProto.STRING)
    x = np.array([["a", "b", "b", "c", "a", "x"], ["b", "a", "b", "a", "b", "c"]], dtype=object)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    graph = th.onnx.load(model)
    got = th.function(graph.inputs, graph.outputs[0], backend=backend)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_string_pool_over_integers_is_refused():
    with pytest.raises(th.onnx.OnnxImportError, match="a pool of strings for an input of dtype int64"):
        th.onnx.load(_string_pool_model(TensorProto.INT64))

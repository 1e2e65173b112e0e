"""ONNX sequences and optionals read as tuples of variables (codegen/onnx/import_sequences.py).

The node tests (test_onnx_nodes.py) cover SequenceInsert, SequenceMap (and its
Loop-based expansion, unrolled), SplitToSequence, If on sequences and the
optional ops; these tests cover the ops the node tests lack (ConcatFromSequence,
SequenceErase, SequenceAt with a negative position, SequenceLength), compared
with onnx's reference evaluator, and the errors for what cannot be static.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402


def _model(nodes, inputs, outputs):
    graph = helper.make_graph(nodes, "sequences", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _sequence_info(name):
    return helper.make_tensor_sequence_value_info(name, TensorProto.FLOAT, None)


def _tensor_info(name, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, None)


def _check(model, feeds: dict, backend="numpy"):
    expected = ReferenceEvaluator(model).run(None, feeds)
    shapes = {k: [v.shape for v in value] if isinstance(value, list) else value.shape for k, value in feeds.items()}
    graph = th.onnx.load(model, input_shapes=shapes)
    f = th.function(graph.inputs, graph.outputs, backend=backend)
    got = graph.results(list(f(*graph.feeds(feeds))))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, list):
            assert isinstance(g, list) and len(g) == len(e)
            for gi, ei in zip(g, e, strict=True):
                np.testing.assert_allclose(gi, ei, rtol=1e-6)
        else:
            np.testing.assert_allclose(g, e, rtol=1e-6)
    return graph


@pytest.mark.parametrize("new_axis", [0, 1])
def test_erase_at_and_concat_from_sequence(new_axis, backend):
    position = helper.make_tensor("position", TensorProto.INT64, [], [-2])
    nodes = [
        helper.make_node("SequenceErase", ["seq", "position"], ["erased"]),
        helper.make_node("ConcatFromSequence", ["erased"], ["joined"], axis=-1, new_axis=new_axis),
        helper.make_node("SequenceAt", ["seq", "position"], ["second_last"]),
        helper.make_node("SequenceLength", ["erased"], ["length"]),
    ]
    model = _model(nodes, [_sequence_info("seq")],
                   [_tensor_info("joined"), _tensor_info("second_last"), _tensor_info("length", TensorProto.INT64)])
    model.graph.initializer.append(position)
    rng = np.random.default_rng(0)
    seq = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(4)]
    graph = _check(model, {"seq": seq}, backend)
    assert graph.sequences == {"seq": 4}
    assert graph.input_names == ["seq[0]", "seq[1]", "seq[2]", "seq[3]"]


def test_sequence_outputs_and_split(backend):
    nodes = [helper.make_node("SplitToSequence", ["x", "split"], ["parts"], axis=1),
             helper.make_node("SequenceInsert", ["parts", "x"], ["more"])]
    model = _model(nodes, [_tensor_info("x")], [_sequence_info("more")])
    model.graph.initializer.append(helper.make_tensor("split", TensorProto.INT64, [], [2]))
    graph = _check(model, {"x": np.arange(15, dtype=np.float32).reshape(3, 5)}, backend)
    assert graph.sequences == {"more": 4}  # 2 + 2 + 1 columns, then x itself


def test_a_sequence_input_needs_its_elements_shapes():
    model = _model([helper.make_node("SequenceLength", ["seq"], ["n"])], [_sequence_info("seq")],
                   [_tensor_info("n", TensorProto.INT64)])
    with pytest.raises(th.onnx.OnnxImportError, match="'seq' is a sequence: give its length"):
        th.onnx.load(model)


def test_a_loop_growing_a_sequence_needs_a_static_condition():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("SequenceInsert", ["seq_in", "x"], ["seq_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), _sequence_info("seq_in")],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _sequence_info("seq_out")])
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"]),
             helper.make_node("Loop", ["trips", "cond", "empty"], ["grown"], body=body)]
    model = _model(nodes, [_tensor_info("x"), _tensor_info("cond", TensorProto.BOOL)], [_sequence_info("grown")])
    model.graph.initializer.append(helper.make_tensor("trips", TensorProto.INT64, [], [3]))
    with pytest.raises(th.onnx.OnnxImportError, match="Loop's condition must be a constant"):
        th.onnx.load(model, input_shapes={"x": (2,), "cond": ()})
    graph = th.onnx.load(model, input_shapes={"x": (2,)}, constants={"cond": np.asarray(True)})
    assert graph.sequences == {"grown": 3}
    f = th.function(graph.inputs, graph.outputs)
    (grown,) = graph.results(list(f(np.array([1.0, 2.0], np.float32))))
    np.testing.assert_array_equal(grown, [[1.0, 2.0]] * 3)

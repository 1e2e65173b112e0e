"""ONNX-ML TreeEnsemble (codegen/onnx/import_ml.py) and MelWeightMatrix (import_signal.py).

Against onnx's reference under every backend: random ensembles (every node
mode, NaN routing, the four aggregations) and mel matrices for other band edges.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402


def _random_ensemble(rng, n_trees: int, n_features: int, n_targets: int) -> dict:
    """Complete trees of depth 2 (3 tests, 4 leaves each).  (No tree that is a single leaf: onnx's
    reference reads such a leaf at the root's node index instead of the index its branches name.)"""
    attrs = {k: [] for k in ("nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs",
                             "nodes_falseleafs", "nodes_missing_value_tracks_true", "leaf_targetids",
                             "tree_roots")}
    splits, modes, members, weights = [], [], [], []
    for _ in range(n_trees):
        root = len(splits)
        attrs["tree_roots"].append(root)
        for k in range(3):
            mode = int(rng.integers(0, 7))
            modes.append(mode)
            splits.append(float(np.round(rng.uniform(-1, 1), 1)))
            if mode == 6:
                # no 0: onnx's reference ends a set at a falsy member
                members.extend([float(v) for v in rng.choice([-0.8, -0.5, -0.1, 0.1, 0.3, 0.6], 3)] + [np.nan])
            attrs["nodes_featureids"].append(int(rng.integers(0, n_features)))
            attrs["nodes_missing_value_tracks_true"].append(int(rng.integers(0, 2)))
            if k == 0:
                attrs["nodes_truenodeids"].append(root + 1)
                attrs["nodes_falsenodeids"].append(root + 2)
                attrs["nodes_trueleafs"].append(0)
                attrs["nodes_falseleafs"].append(0)
            else:
                for _ in range(2):
                    attrs["leaf_targetids"].append(int(rng.integers(0, n_targets)))
                    weights.append(float(rng.uniform(-5, 5)))
                attrs["nodes_truenodeids"].append(len(weights) - 2)
                attrs["nodes_falsenodeids"].append(len(weights) - 1)
                attrs["nodes_trueleafs"].append(1)
                attrs["nodes_falseleafs"].append(1)
    attrs["nodes_splits"] = numpy_helper.from_array(np.array(splits, np.float32))
    attrs["nodes_modes"] = numpy_helper.from_array(np.array(modes, np.uint8))
    attrs["leaf_weights"] = numpy_helper.from_array(np.array(weights, np.float32))
    if members:
        attrs["membership_values"] = numpy_helper.from_array(np.array(members, np.float32))
    return attrs


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
def test_tree_ensemble_matches_onnx(aggregate, backend):
    rng = np.random.default_rng(aggregate)
    attrs = _random_ensemble(rng, 4, 3, 3)
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", n_targets=3,
                            aggregate_function=aggregate, **attrs)
    graph = helper.make_graph([node], "trees", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    x = np.round(rng.uniform(-1, 1, (40, 3)), 1).astype(np.float32)  # on the splits and members too
    x[::7, 1] = np.nan
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    loaded = th.onnx.load(model, input_shapes={"x": x.shape})
    got = th.function(loaded.inputs, loaded.outputs[0], backend=backend)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize(("mels", "dft", "rate", "low", "high"), [(10, 64, 8000, 100.0, 3000.0), (4, 30, 16000, 0.0,
                                                                                                     8000.0)])
def test_mel_weight_matrix_matches_onnx(mels, dft, rate, low, high, backend):
    names = ["mels", "dft", "rate", "low", "high"]
    node = helper.make_node("MelWeightMatrix", names, ["y"])
    types = [TensorProto.INT64] * 3 + [TensorProto.FLOAT] * 2
    graph = helper.make_graph([node], "mel", [helper.make_tensor_value_info(n, t, []) for n, t in zip(names, types,
                                                                                                       strict=True)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ints = {"mels": np.array(mels, np.int64), "dft": np.array(dft, np.int64), "rate": np.array(rate, np.int64)}
    floats = {"low": np.array(low, np.float32), "high": np.array(high, np.float32)}
    expected = ReferenceEvaluator(model).run(None, {**ints, **floats})[0]
    loaded = th.onnx.load(model, constants=ints)
    got = th.function(loaded.inputs, loaded.outputs[0], backend=backend)(floats["low"], floats["high"])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)

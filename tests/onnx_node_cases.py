"""The ONNX project's backend node tests, as ``name -> (model, inputs, outputs)``.

Read from ``onnx/backend/test/data/node/test_*`` (``model.onnx`` and
``test_data_set_0/*.pb``) where the installed onnx ships that folder, else
generated in memory by ``onnx.backend.test.case.node`` (the code that
writes the folder; onnx 1.23's wheels ship the generators, not the files).
Shared by tests/graph/test_onnx_*_nodes.py and tests/graph/onnx_node_report.py.
"""

from __future__ import annotations

import functools
import os

import numpy as np


def _read_tensor(onnx, path: str) -> np.ndarray:
    from onnx import numpy_helper

    tensor = onnx.TensorProto()
    with open(path, "rb") as handle:
        tensor.ParseFromString(handle.read())
    return numpy_helper.to_array(tensor)


def _from_folder(onnx, folder: str) -> dict:
    cases = {}
    for name in sorted(os.listdir(folder)):
        model_path = os.path.join(folder, name, "model.onnx")
        data = os.path.join(folder, name, "test_data_set_0")
        if not (os.path.exists(model_path) and os.path.isdir(data)):
            continue
        model = onnx.load(model_path)
        files = sorted(os.listdir(data))
        inputs = [_read_tensor(onnx, os.path.join(data, f)) for f in files if f.startswith("input")]
        outputs = [_read_tensor(onnx, os.path.join(data, f)) for f in files if f.startswith("output")]
        cases[name] = (model, inputs, outputs)
    return cases


def _generated() -> dict:
    from onnx.backend.test.case.node import collect_testcases

    with np.errstate(all="ignore"):
        found = collect_testcases(None)
    return {c.name: (c.model, [_array(v) for v in c.data_sets[0][0]], [_array(v) for v in c.data_sets[0][1]])
            for c in found if c.data_sets}


def _array(value):
    """A generator's TensorProto (how it writes the types NumPy lacks) as an array (ml_dtypes for
    those); sequences (lists) and optionals (None) stay as they are."""
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else value


@functools.cache
def all_node_cases() -> dict:
    import onnx

    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    return _from_folder(onnx, folder) if os.path.isdir(folder) else _generated()


def ops_of(model) -> set[str]:
    """Every op type in the model's graph and its subgraphs."""
    from onnx import helper

    found, graphs = set(), [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            found.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}")
            for attr in node.attribute:
                value = helper.get_attribute_value(attr)
                if hasattr(value, "node"):
                    graphs.append(value)
                elif isinstance(value, list):
                    graphs.extend(v for v in value if hasattr(v, "node"))
    return found


def run_node_case(name: str, backend: str = "numpy", mode: str | None = None) -> tuple[str, str]:
    """``(outcome, detail)`` of one node test through ``th.onnx.load``: "passed", "unsupported" (the
    reader refused a node: the detail says which and why) or "failed" (an error or a wrong value)."""
    import theanine as th

    model, inputs, expected = all_node_cases()[name]
    values = (*inputs, *expected)
    if any(not isinstance(v, (np.ndarray, np.generic)) for v in values):
        return "unsupported", "sequence or optional values (theanine has tensors only)"
    inputs, expected = [np.asarray(v) for v in inputs], [np.asarray(v) for v in expected]
    graph_inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    shapes = {info.name: value.shape for info, value in zip(graph_inputs, inputs, strict=False)}
    # integer inputs (shapes, axes, pads, indices) are bound as constants: theanine needs static
    # shape parameters, which ONNX's node tests pass as inputs
    bound = {info.name: value for info, value in zip(graph_inputs, inputs, strict=False)
             if value.dtype.kind in "iu"}
    feeds = [(info.name, value) for info, value in zip(graph_inputs, inputs, strict=False) if info.name not in bound]
    try:
        with np.errstate(all="ignore"):
            graph = th.onnx.load(model, input_shapes=shapes, constants=bound)
            f = th.function(graph.inputs[: len(feeds)], graph.outputs, backend=backend, mode=mode,
                            on_unused_input="ignore")
            feeds = [graph.feed(name, value) for name, value in feeds]
    except th.onnx.OnnxImportError as exc:
        return "unsupported", str(exc)
    except Exception as exc:  # noqa: BLE001 - any other error is a failure of the translation
        return "failed", f"{type(exc).__name__}: {str(exc)[:200]}"
    try:
        with np.errstate(all="ignore"):
            got = f(*feeds)
    except Exception as exc:  # noqa: BLE001
        return "failed", f"{type(exc).__name__} when run: {str(exc)[:200]}"
    got = got if isinstance(got, list) else [got]
    got = [graph.result(name, g) for name, g in zip(graph.output_names, got, strict=False)]
    for g, e in zip(got, expected, strict=False):
        if g.shape != e.shape or g.dtype != e.dtype:
            return "failed", f"got {g.dtype}{g.shape}, expected {e.dtype}{e.shape}"
        rtol = 2.0 ** -6 if e.dtype.name == "bfloat16" else 1e-3  # onnx's runner: two bfloat16 ulps
        if e.dtype.kind == "V":  # an ml_dtypes type (bfloat16, float8, int4, ...): compare its values
            g, e = g.astype(np.float64), e.astype(np.float64)
        try:
            if e.dtype.kind in "fc":
                np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-7, equal_nan=True)  # onnx's runner
            else:
                np.testing.assert_array_equal(g, e)
        except AssertionError as exc:
            return "failed", str(exc).strip().splitlines()[-1][:160]
    return "passed", ""

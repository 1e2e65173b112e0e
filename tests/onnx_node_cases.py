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


def run_node_case(name: str, backend: str = "numpy", mode: str | None = None,
                  bind_integers: bool = True) -> tuple[str, str]:
    """``(outcome, detail)`` of one node test through ``th.onnx.load``: "passed", "unsupported" (the
    reader refused a node: the detail says which and why) or "failed" (an error or a wrong value).
    A sequence (a list) is read with its length and its elements' shapes; an empty optional (None)
    is bound as a constant, and so are integer inputs unless ``bind_integers`` is False (then they
    are fed at run time, as a runner that knows nothing of theanine does)."""
    import theanine as th

    model, inputs, expected = all_node_cases()[name]
    graph_inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    given = {info.name: value if value is None or isinstance(value, list) else np.asarray(value)
             for info, value in zip(graph_inputs, inputs, strict=False)}
    shapes = {name: [np.shape(v) for v in value] if isinstance(value, list) else np.shape(value)
              for name, value in given.items() if value is not None}
    # integer inputs (shapes, axes, pads, indices) are bound as constants: theanine needs static
    # shape parameters, which ONNX's node tests pass as inputs
    bound = {name: value for name, value in given.items()
             if value is None or (bind_integers and isinstance(value, np.ndarray) and value.dtype.kind in "iu")}
    try:
        with np.errstate(all="ignore"):
            graph = th.onnx.load(model, input_shapes=shapes, constants=bound)
            f = th.function(graph.inputs, graph.outputs, backend=backend, mode=mode, on_unused_input="ignore")
            feeds = graph.feeds({name: value for name, value in given.items() if name not in bound})
    except th.onnx.OnnxImportError as exc:
        return "unsupported", str(exc)
    except Exception as exc:  # noqa: BLE001 - any other error is a failure of the translation
        return "failed", f"{type(exc).__name__}: {str(exc)[:200]}"
    try:
        with np.errstate(all="ignore"):
            got = f(*feeds) if graph.outputs else []
    except Exception as exc:  # noqa: BLE001
        return "failed", f"{type(exc).__name__} when run: {str(exc)[:200]}"
    got = graph.results(got if isinstance(got, list) else [got])
    return _compare(got, expected)


def _compare(got: list, expected: list) -> tuple[str, str]:
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, list):
            if not isinstance(g, list) or len(g) != len(e):
                return "failed", f"got {type(g).__name__} of {len(g) if isinstance(g, list) else '-'}, expected a " \
                                 f"sequence of {len(e)}"
            outcome = _compare(g, e)
            if outcome[0] != "passed":
                return outcome
            continue
        e = np.asarray(e)
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

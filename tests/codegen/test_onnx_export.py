"""ONNX export of symbolic graphs and compiled functions, checked in onnxruntime.

The op case table (tests/op_table.py, every op family) is exported row by
row (tests/codegen/onnx_export_sweep.py): every row either matches NumPy in
onnxruntime, or export names the op that has no ONNX form, or onnxruntime
has no kernel for that op and dtype; the few rows listed in
``KNOWN_DIFFERENCES`` differ on special values, for the reason given.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import theanine as th

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_export_sweep import sweep  # noqa: E402

KNOWN_DIFFERENCES = {
    "floor_divide_edges_float32": "inf and nan operands: floor(a / b) is not NumPy's fmod-based floor_divide",
    "mod_edges_float32": "inf and nan operands: a - floor(a / b) * b is not NumPy's fmod-based remainder",
    "arctan2_edges_float32": "infinite operands: atan(y / x) with quadrant shifts is not atan2 at +-inf",
}


def _run(model, *arrays):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays, strict=True)))


def test_the_op_table_runs_in_onnxruntime():
    results = sweep()
    failed = {k: v for k, v in results.items() if v[0] == "failed" and k not in KNOWN_DIFFERENCES}
    assert failed == {}
    passed = sum(1 for outcome, _ in results.values() if outcome == "passed")
    assert passed >= 700, passed
    for name in KNOWN_DIFFERENCES:
        assert results[name][0] == "failed", f"{name} now passes: drop it from KNOWN_DIFFERENCES"


def test_compiled_function_shared_values_become_initializers():
    x = th.matrix("x", dtype="float32")
    w = th.shared(np.arange(12, dtype="float32").reshape(3, 4) / 10, name="w")
    b = th.shared(np.ones(4, dtype="float32"), name="b")
    f = th.function([x], th.tanh(x @ w + b).sum(axis=1))
    model = th.onnx.export(f, io.BytesIO())
    onnx.checker.check_model(model, full_check=True)
    assert sorted(i.name.split("_")[0] for i in model.graph.initializer if i.name.startswith(("w", "b"))) == [
        "b", "w"]
    xv = np.random.default_rng(0).standard_normal((7, 3)).astype("float32")
    np.testing.assert_allclose(_run(model, xv)[0], f(xv), rtol=1e-5, atol=1e-6)
    w.set_value(np.zeros((3, 4), dtype="float32"))  # the file holds the value at export time
    assert not np.allclose(_run(model, xv)[0], f(xv))


def test_givens_are_substituted():
    x, y = th.vector("x"), th.vector("y")
    f = th.function([x], x * y, givens={y: x + 1})
    xv = np.arange(4.0, dtype=x.dtype)
    np.testing.assert_allclose(_run(th.onnx.export(f, io.BytesIO()), xv)[0], xv * (xv + 1))


def test_a_function_with_updates_is_refused():
    x = th.vector("x")
    s = th.shared(np.zeros(3), name="state")
    f = th.function([x], x.sum(), updates=[(s, s + x)])
    with pytest.raises(ValueError, match="updates shared variables.*state"):
        th.onnx.export(f, io.BytesIO())


def test_symbolic_outputs_need_inputs():
    x = th.vector("x")
    with pytest.raises(TypeError, match="inputs="):
        th.onnx.export(x * 2, io.BytesIO())
    with pytest.raises(th.onnx.OnnxExportError, match="not among the exported inputs"):
        th.onnx.export(x * th.vector("other"), io.BytesIO(), inputs=[x])


def test_an_op_without_onnx_form_names_the_op_and_the_users_line():
    x = th.vector("x")
    y = th.cumprod(x)  # the line the error must name
    line = f"{__file__}:{sys._getframe().f_lineno - 1}"
    with pytest.raises(th.onnx.OnnxExportError) as info:
        th.onnx.export([y + 1], io.BytesIO(), inputs=[x])
    assert "Cumprod" in str(info.value) and "cumulative product" in str(info.value)
    assert line in str(info.value)


def test_scan_exports_as_a_loop():
    x = th.matrix("x", dtype="float64")
    h0 = th.vector("h0", dtype="float64")
    w = th.shared(np.random.default_rng(1).standard_normal((3, 3)) / 3, name="w")
    hs, _ = th.scan(lambda xt, h: th.tanh(xt + h @ w), sequences=[x], outputs_info=[h0])
    model = th.onnx.export([hs, hs[-1]], io.BytesIO(), inputs=[x, h0])
    assert any(n.op_type == "Loop" for n in model.graph.node)
    xv, hv = np.random.default_rng(2).standard_normal((5, 3)), np.zeros(3)
    expected = th.function([x, h0], [hs, hs[-1]])(xv, hv)
    for got, want in zip(_run(model, xv, hv), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_a_while_loop_is_refused_with_the_reason():
    x = th.scalar("x", dtype="float64")
    values, _ = th.scan(lambda v: (v * 2, th.until(v > 100)), outputs_info=[x], n_steps=20)
    with pytest.raises(th.onnx.OnnxExportError, match="while loop"):
        th.onnx.export(values, io.BytesIO(), inputs=[x])


def test_import_theanine_does_not_load_onnx():
    code = "import sys, theanine; assert 'onnx' not in sys.modules and 'theanine.onnx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("opset", [3, 17, 10_000, "18", True])
def test_an_opset_the_exporter_cannot_write_is_refused(opset, tmp_path):
    x = th.vector("x")
    with pytest.raises(ValueError, match=r"opset must be an int from 18"):
        th.onnx.export([x * 2], tmp_path / "m.onnx", inputs=[x], opset=opset)
    assert not (tmp_path / "m.onnx").exists()

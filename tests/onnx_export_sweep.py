"""The op case table (tests/op_table.py) exported to ONNX and run in onnxruntime.

``sweep()`` classifies every row: ``passed`` (same dtype and shape, values
within the table's tolerance), ``no_onnx_form`` (export raised
OnnxExportError: theanine says which op), ``runtime_lacks`` (onnxruntime has
no kernel for that op and dtype, e.g. Add on int8), ``failed`` (anything
else: a wrong value, dtype or shape).  ``python tests/onnx_export_sweep.py``
prints the figures per family; tests/codegen/test_onnx_export.py asserts on them.
"""

from __future__ import annotations

import collections
import io
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import theanine as th  # noqa: E402
from op_table import all_cases, tolerance  # noqa: E402


def _symbolic(case):
    return [th.tensor(f"in{i}", np.asarray(a).dtype, np.shape(a) if case.static_shapes else (None,) * np.ndim(a))
            for i, a in enumerate(case.inputs)]


def run_case(case) -> tuple[str, str]:
    """``(outcome, detail)`` of one row."""
    import onnxruntime as ort

    from theanine.codegen.onnx.export import OnnxExportError

    variables = _symbolic(case)
    out = case.build(*variables)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    buffer = io.BytesIO()
    try:
        th.onnx.export(outs, buffer, inputs=variables)
    except OnnxExportError as exc:
        return "no_onnx_form", str(exc).split(" (the node")[0]
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        feeds = {v.name: np.asarray(a) for v, a in zip(session.get_inputs(), case.inputs, strict=True)}
        got = session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes
        text = str(exc)
        if "NOT_IMPLEMENTED" in text or "Could not find an implementation" in text:
            return "runtime_lacks", text.split("Could not find an implementation for ")[-1][:80]
        return "failed", text[:200]
    with np.errstate(all="ignore"):
        expected = case.reference(*case.inputs)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    for g, e in zip(got, expected, strict=True):
        e = np.asarray(e)
        if g.dtype != e.dtype or g.shape != e.shape:
            return "failed", f"dtype/shape {g.dtype}{g.shape} != {e.dtype}{e.shape}"
        rtol, atol = tolerance(g.dtype)
        try:
            np.testing.assert_allclose(g, e, rtol=case.rtol or rtol, atol=case.atol or atol, equal_nan=True)
        except AssertionError as exc:
            return "failed", str(exc).strip().splitlines()[0][:120]
    return "passed", ""


def sweep() -> dict[str, tuple[str, str]]:
    return {case.id: run_case(case) for case in all_cases()}


def main() -> None:
    results = sweep()
    by_family = collections.defaultdict(collections.Counter)
    for name, (outcome, _) in results.items():
        by_family[name.split("_")[0]][outcome] += 1
    total = collections.Counter(outcome for outcome, _ in results.values())
    for family, counts in sorted(by_family.items()):
        print(f"{family:14s} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print("total", dict(total))
    for name, (outcome, detail) in results.items():
        if outcome != "passed":
            print(f"  {outcome:13s} {name}: {detail}")


if __name__ == "__main__":
    main()

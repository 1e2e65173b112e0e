"""The ONNX project's node tests for Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool and
GlobalMaxPool, under every backend, through ``th.onnx.load``.

The translation (ONNX's auto_pad, ceil_mode, count_include_pad and
ConvTranspose output_shape rules onto ``th.conv`` / ``th.conv_transpose``
/ ``th.max_pool`` / ``th.average_pool`` with ``data_format="channels_first"``)
lives in codegen/onnx/import_windows.py; tests/graph/test_onnx_nodes.py
runs every node case under the numpy backend, this file these ops' cases
under every backend, with the tolerance of onnx's own runner.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from onnx_node_cases import all_node_cases, run_node_case  # noqa: E402

OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
CASES = sorted(name for name, (model, _, _) in all_node_cases().items()
               if len(model.graph.node) == 1 and model.graph.node[0].op_type in OPS)


def test_the_node_tests_are_found():
    found = {all_node_cases()[name][0].graph.node[0].op_type for name in CASES}
    assert found == set(OPS), found
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", CASES)
def test_onnx_node(name, backend):
    outcome, detail = run_node_case(name, backend)
    assert outcome == "passed", detail

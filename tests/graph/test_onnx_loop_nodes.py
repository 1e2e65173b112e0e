"""ONNX node tests for Scan, Loop, If, RNN, GRU and LSTM, under every backend, through ``th.onnx.load``.

The translation onto ``th.scan`` and ``th.ifelse`` (ONNX's gate orders,
sequence lengths, directions, layouts, opset-8 batched Scan) lives in
codegen/onnx/import_loops.py.  Cases not run, with the reason (they use
ONNX types theanine does not have):

- test_if_seq, test_if_opt: the branches return ONNX sequences / optionals;
- test_loop13_seq, test_loop16_seq_none: the loop carries an ONNX sequence /
  optional (SequenceInsert, OptionalHasElement).
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from onnx_node_cases import all_node_cases, run_node_case  # noqa: E402

NOT_SUPPORTED = {
    "test_if_seq": "the branches return ONNX sequences (no sequence type in theanine)",
    "test_if_opt": "the branches return ONNX optionals (no optional type in theanine)",
    "test_loop13_seq": "the loop carries an ONNX sequence (SequenceInsert)",
    "test_loop16_seq_none": "the loop carries an ONNX optional sequence (OptionalHasElement)",
}
OPS = ("Scan", "Loop", "If", "RNN", "GRU", "LSTM")
CASES = {name: case for name, case in all_node_cases().items() if case[0].graph.node[0].op_type in OPS}
RUNNABLE = sorted(n for n in CASES if n not in NOT_SUPPORTED)


@pytest.mark.parametrize("name", RUNNABLE)
def test_onnx_node_case(name, backend):
    outcome, detail = run_node_case(name, backend)
    assert outcome == "passed", detail


def test_every_loop_case_is_run_or_listed():
    ops = {CASES[n][0].graph.node[0].op_type for n in RUNNABLE}
    assert ops == set(OPS)
    assert set(NOT_SUPPORTED) <= set(CASES)
    for name in NOT_SUPPORTED:
        assert run_node_case(name)[0] == "unsupported"

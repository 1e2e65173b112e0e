"""ONNX node tests for Scan, Loop, If, RNN, GRU and LSTM, under every backend, through ``th.onnx.load``.

The translation onto ``th.scan`` and ``th.ifelse`` (ONNX's gate orders,
sequence lengths, directions, layouts, opset-8 batched Scan) lives in
codegen/onnx/import_loops.py.  Cases not run, with the reason (a sequence or
optional whose length or presence would be known only at run time; sequences
are tuples of variables resolved at import: import_sequences.py):

- test_if_opt: one branch returns an empty optional, the other a sequence;
- test_loop13_seq, test_loop16_seq_none: the loop grows a sequence (SequenceInsert)
  while a condition fed at run time decides how often.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from onnx_node_cases import all_node_cases, run_node_case  # noqa: E402

NOT_SUPPORTED = {
    "test_if_opt": "one branch returns an empty optional, the other a sequence",
    "test_loop13_seq": "the loop grows a sequence (SequenceInsert) as often as a run-time condition says",
    "test_loop16_seq_none": "the loop grows an optional sequence as often as a run-time condition says",
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

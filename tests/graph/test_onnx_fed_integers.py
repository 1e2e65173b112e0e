"""ONNX node cases with their integer inputs (shapes, axes, pads) fed at run time, as a runner that
knows nothing of theanine feeds them, instead of bound as constants (tests/onnx_node_cases.py).

A node that needs such an input to be static is refused by the reader with its reason (counted as
"unsupported" by ``python tests/graph/onnx_node_report.py --feed-integers``); the cases here show the
ones that do run, under the numpy backend and natively.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from onnx_node_cases import all_node_cases, run_node_case  # noqa: E402

FED = ("test_expand_dim_changed", "test_expand_dim_unchanged", "test_reshape_negative_dim", "test_gather_1",
       "test_gather_elements_negative_indices", "test_onehot_with_negative_axis",
       "test_scatter_elements_with_negative_indices", "test_range_int32_type_negative_delta",
       "test_constantofshape_int_zeros", "test_gathernd_example_int32_batch_dim1")


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("name", FED)
def test_cases_run_with_integer_inputs_fed_at_run_time(name, backend):
    assert name in all_node_cases()
    outcome, detail = run_node_case(name, backend, bind_integers=False)
    assert outcome == "passed", detail


def test_an_if_whose_branches_differ_in_rank_is_refused_with_its_reason():
    outcome, detail = run_node_case("test_affine_grid_3d_align_corners_expanded", "numpy", bind_integers=False)
    assert outcome == "unsupported"
    assert "the If branches give an output of rank 0 (float32()) and one of rank 1 (float32(1,))" in detail

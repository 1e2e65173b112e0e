"""ONNX RoiAlign (codegen/onnx/import_detection.py) against onnx's reference, and its gradient.

ROIs partly outside the image, both coordinate modes, avg and max, under
every backend; the gradient with respect to the image against finite
differences; the adaptive sampling_ratio=0 is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import theanine as th  # noqa: E402

ROIS = np.array([[0.5, 1.0, 6.2, 5.3], [-2.0, -1.5, 3.0, 2.0], [4.0, 4.0, 11.5, 9.0], [2.0, 2.0, 2.2, 2.1]],
                np.float32)


def _model(**attrs):
    node = helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], output_height=3, output_width=4, **attrs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
              helper.make_tensor_value_info("rois", TensorProto.FLOAT, None),
              helper.make_tensor_value_info("batch", TensorProto.INT64, None)]
    graph = helper.make_graph([node], "roi", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def _image():
    return np.random.default_rng(0).standard_normal((2, 3, 8, 10)).astype(np.float32)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
def test_roi_align_matches_onnx(mode, transform, backend):
    model = _model(mode=mode, coordinate_transformation_mode=transform, sampling_ratio=2, spatial_scale=0.9)
    batch = np.array([0, 1, 1, 0], np.int64)
    expected = ReferenceEvaluator(model).run(None, {"x": _image(), "rois": ROIS, "batch": batch})[0]
    graph = th.onnx.load(model, input_shapes={"x": (2, 3, 8, 10), "rois": (4, 4), "batch": (4,)})
    got = th.function(graph.inputs, graph.outputs[0], backend=backend)(_image(), ROIS, batch)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_roi_align_gradient():
    graph = th.onnx.load(_model(sampling_ratio=3), input_shapes={"x": (2, 3, 8, 10), "rois": (4, 4)},
                         constants={"batch": np.array([0, 1, 1, 0], np.int64)})
    x, rois = graph.inputs
    weights = th.constant(np.random.default_rng(1).standard_normal((4, 3, 3, 4)).astype(np.float32))
    cost = (graph.outputs[0] * weights).sum()
    grad = th.function([x, rois], th.grad(cost, x))(_image(), ROIS)
    f = th.function([x, rois], cost)
    image = _image().astype(np.float64)
    for index in [(0, 0, 2, 3), (1, 2, 3, 5), (0, 1, 7, 9), (1, 0, 0, 0)]:
        step = np.zeros_like(image)
        step[index] = 1e-2
        numeric = (f((image + step).astype(np.float32), ROIS) - f((image - step).astype(np.float32), ROIS)) / 2e-2
        np.testing.assert_allclose(grad[index], numeric, rtol=1e-3, atol=1e-4)


def test_adaptive_sampling_is_refused():
    with pytest.raises(th.onnx.OnnxImportError, match="sampling_ratio=0"):
        th.onnx.load(_model(), input_shapes={"x": (2, 3, 8, 10), "rois": (4, 4), "batch": (4,)})

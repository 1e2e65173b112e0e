"""``utils.bounding_boxes``: formats, IoU/CIoU, clipping, cropping, padding, affine maps and anchor
deltas, on arrays and on graph tensors (values worked by hand or checked against Keras 3.15)."""

import itertools
import math

import numpy as np
import pytest

import theanine as th
from theanine.frontend import utils

B = utils.bounding_boxes
BOXES = np.array([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 12.0, 6.0]], "float32")  # xyxy
BY_FORMAT = {
    "xyxy": BOXES,
    "yxyx": [[20, 10, 60, 30], [0, 0, 6, 12]],
    "xywh": [[10, 20, 20, 40], [0, 0, 12, 6]],
    "center_xywh": [[20, 40, 20, 40], [6, 3, 12, 6]],
    "center_yxhw": [[40, 20, 40, 20], [3, 6, 6, 12]],
    "rel_xyxy": [[0.1, 0.25, 0.3, 0.75], [0, 0, 0.12, 0.075]],
    "rel_yxyx": [[0.25, 0.1, 0.75, 0.3], [0, 0, 0.075, 0.12]],
    "rel_xywh": [[0.1, 0.25, 0.2, 0.5], [0, 0, 0.12, 0.075]],
    "rel_center_xywh": [[0.2, 0.5, 0.2, 0.5], [0.06, 0.0375, 0.12, 0.075]],
}


@pytest.mark.parametrize("source, target", list(itertools.product(B.SUPPORTED_FORMATS, repeat=2)))
def test_convert_format_between_every_pair(source, target):
    got = B.convert_format(np.asarray(BY_FORMAT[source], "float32"), source, target, height=80, width=100)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, BY_FORMAT[target], rtol=1e-6, atol=1e-6)


def test_convert_format_dicts_graphs_and_errors():
    boxes = {"boxes": BOXES.copy(), "labels": np.array([1, 2])}
    assert B.convert_format(boxes, "xyxy", "XYWH")["boxes"].tolist() == BY_FORMAT["xywh"]
    m = th.matrix("m")
    f = th.function([m], B.convert_format(m, "xyxy", "center_yxhw"))
    np.testing.assert_allclose(f(BOXES), BY_FORMAT["center_yxhw"])
    with pytest.raises(ValueError, match="needs height and width"):
        B.convert_format(BOXES, "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="unknown format"):
        B.convert_format(BOXES, "xyxy", "corners")
    with pytest.raises(ValueError, match="last axis of 4"):
        B.convert_format(np.ones((2, 3)), "xyxy", "xywh")


def _iou_reference(a, b):
    overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / (union + 1e-7)


def test_compute_iou_pairs_batches_and_masks():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 40, size=(2, 4, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(1, 20, size=(2, 4, 2))], -1).astype("float32")
    iou = B.compute_iou(boxes, boxes[0, :3], "xyxy")
    assert iou.shape == (2, 4, 3)
    for b, i, j in itertools.product(range(2), range(4), range(3)):
        assert iou[b, i, j] == pytest.approx(_iou_reference(boxes[b, i], boxes[0, j]), rel=1e-5)
    yxyx = B.convert_format(boxes, "xyxy", "yxyx")
    np.testing.assert_allclose(B.compute_iou(yxyx[0], yxyx[1], "yxyx"), B.compute_iou(boxes[0], boxes[1], "xyxy"),
                               rtol=1e-6)
    masked = boxes.copy()
    masked[0, 1] = -1.0
    table = B.compute_iou(masked, masked, "xyxy", use_masking=True, mask_val=-7)
    assert (table[0, 1] == -7).all() and (table[0, :, 1] == -7).all() and table[0, 0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs image_shape"):
        B.compute_iou(boxes, boxes, "rel_xyxy")


def test_compute_ciou_by_hand():
    a = np.array([[0.0, 0.0, 10.0, 10.0]], "float32")
    b = np.array([[5.0, 5.0, 15.0, 15.0]], "float32")
    # IoU 25/175; centres 50 apart (squared) over a diagonal of 450; equal aspect ratios: no v term
    assert B.compute_ciou(a, b, "xyxy")[0] == pytest.approx(25 / 175 - 50 / 450, rel=1e-5)
    wide = np.array([[0.0, 0.0, 20.0, 10.0]], "float32")
    v = 4 / math.pi**2 * (math.atan(2.0) - math.atan(1.0)) ** 2
    iou = 100 / 200
    expected = iou - (25 / 500 + v * v / (v - iou + 1))
    assert B.compute_ciou(a, wide, "xyxy")[0] == pytest.approx(expected, rel=1e-4)


def test_clip_crop_and_pad():
    boxes = {"boxes": np.array([[-5.0, -5.0, 10.0, 20.0], [50.0, 50.0, 60.0, 70.0]], "float32"),
             "labels": np.array([3, 4])}
    clipped = B.clip_to_image_size(boxes, height=30, width=40)
    np.testing.assert_array_equal(clipped["boxes"], [[0, 0, 10, 20], [40, 30, 40, 30]])
    np.testing.assert_array_equal(clipped["labels"], [3, -1])  # nothing of the second box is left
    relative = B.clip_to_image_size({"boxes": np.array([[-0.5, 0.2, 1.5, 0.8]])}, bounding_box_format="rel_xyxy")
    np.testing.assert_allclose(relative["boxes"], [[0.0, 0.2, 1.0, 0.8]])
    np.testing.assert_array_equal(B.crop(BOXES, top=10, left=5, height=30, width=20), [[5, 10, 20, 30], [0, 0, 7, 0]])
    np.testing.assert_array_equal(B.pad(BOXES, top=2, left=3), BOXES + [3, 2, 3, 2])
    with pytest.raises(NotImplementedError, match="'xyxy' boxes"):
        B.crop(BOXES, 0, 0, 10, 10, bounding_box_format="yxyx")


def test_affine_transform_identity_translation_and_rotation():
    boxes = np.array([[[10.0, 20.0, 30.0, 40.0]]], "float32")
    zeros, ones = np.zeros(1, "float32"), np.ones(1, "float32")
    same = B.affine_transform(boxes, zeros, zeros, zeros, ones, zeros, zeros, height=101, width=201)
    np.testing.assert_allclose(same, boxes, atol=1e-4)
    moved = B.affine_transform(boxes, zeros, ones * 0.1, ones * 0.2, ones, zeros, zeros, height=101, width=201)
    np.testing.assert_allclose(moved, boxes + [20, 20, 20, 20], atol=1e-4)  # 0.1 * 200, 0.2 * 100
    turned = B.affine_transform(boxes, ones * 90, zeros, zeros, ones, zeros, zeros, height=101, width=101)
    # a quarter turn about the centre (50, 50) maps (x, y) to (y, 100 - x)
    np.testing.assert_allclose(turned, [[[20, 70, 40, 90]]], atol=1e-3)


def test_deltas_round_trip_and_values():
    anchors = np.array([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 25.0, 15.0]], "float32")
    boxes = np.array([[[1.0, 2.0, 11.0, 42.0], [5.0, 5.0, 25.0, 15.0]]], "float32")
    deltas = B.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding_format="center_xywh",
                                    variance=[0.1, 0.1, 0.2, 0.2])
    # box 0: centre (6, 22) vs (5, 10) over size (10, 20); sizes (10, 40) vs (10, 20)
    np.testing.assert_allclose(deltas[0, 0], [0.1 / 0.1, 0.6 / 0.1, 0.0, math.log(2) / 0.2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(deltas[0, 1], [0, 0, 0, 0], atol=1e-6)
    for fmt in ("center_xywh", "center_yxhw"):
        encoded = B.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding_format=fmt)
        decoded = B.decode_deltas_to_boxes(anchors, encoded, "xyxy", "yxyx", encoded_format=fmt)
        np.testing.assert_allclose(decoded, B.convert_format(boxes, "xyxy", "yxyx"), rtol=1e-5)
    levels = B.decode_deltas_to_boxes({"p3": anchors}, {"p3": np.zeros((2, 4), "float32")}, "xyxy", "xyxy")
    np.testing.assert_allclose(levels["p3"], anchors, rtol=1e-6)
    with pytest.raises(ValueError, match="variance must have 4 values"):
        B.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", variance=[1.0, 2.0])
    with pytest.raises(ValueError, match="encoding_format must be 'center_xywh' or 'center_yxhw'"):
        B.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding_format="xyxy")

"""Keras' ``utils.bounding_boxes``: box format conversion, IoU and CIoU, clipping, cropping,
padding, affine maps and anchor deltas.

Boxes are arrays (or graph tensors: every function is written with
``keras.ops``, so it is eager on arrays and symbolic on tensors) whose last
axis holds 4 numbers in one of the formats below; relative formats divide
x by the image width and y by its height.  The formulas, epsilons and
conventions (clipped boxes of zero area get label -1; ``affine_transform``
maps each box's corners by the inverse of the image transform and takes
their bounds) are Keras 3.15's.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.frontend import config as keras_config
from theanine.frontend import ops
from theanine.graph.basic import Variable

__all__ = ["convert_format", "clip_to_image_size", "affine_transform", "crop", "pad", "encode_box_to_deltas",
           "decode_deltas_to_boxes", "compute_iou", "compute_ciou", "SUPPORTED_FORMATS"]

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx", "rel_xywh",
                     "rel_center_xywh")


def _static_shape(boxes) -> tuple:
    """The shape of an array, or a graph tensor's static shape (None where unknown)."""
    return boxes.type.shape if isinstance(boxes, Variable) else np.shape(boxes)


def _parts(boxes) -> list:
    """The 4 coordinates of ``boxes`` as arrays/tensors ending in an axis of size 1."""
    return [boxes[..., i:i + 1] for i in range(4)]


def _join(parts):
    return ops.concatenate(list(parts), axis=-1)


def _to_xyxy(boxes, source: str, height, width):
    a, b, c, d = _parts(boxes)
    if source.startswith("rel_"):
        scales = (height, width) if source == "rel_yxyx" else (width, height)
        a, b, c, d = a * scales[0], b * scales[1], c * scales[0], d * scales[1]
        source = source[4:]
    if source == "xyxy":
        return _join([a, b, c, d])
    if source == "yxyx":
        return _join([b, a, d, c])
    if source == "xywh":
        return _join([a, b, a + c, b + d])
    if source == "center_xywh":
        return _join([a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0])
    return _join([b - d / 2.0, a - c / 2.0, b + d / 2.0, a + c / 2.0])  # center_yxhw


def _from_xyxy(boxes, target: str, height, width):
    x1, y1, x2, y2 = _parts(boxes)
    relative = target.startswith("rel_")
    if relative:
        x1, y1, x2, y2 = x1 / width, y1 / height, x2 / width, y2 / height
        target = target[4:]
    if target == "xyxy":
        return _join([x1, y1, x2, y2])
    if target == "yxyx":
        return _join([y1, x1, y2, x2])
    if target == "xywh":
        return _join([x1, y1, x2 - x1, y2 - y1])
    center = [x1 + (x2 - x1) / 2.0, y1 + (y2 - y1) / 2.0, x2 - x1, y2 - y1]
    return _join(center if target == "center_xywh" else [center[1], center[0], center[3], center[2]])


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """``boxes`` (or the ``"boxes"`` of a dict, which is updated) from ``source`` to ``target`` format."""
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return boxes
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"convert_format: unknown format in source={source!r}, target={target!r}; "
                         f"supported: {SUPPORTED_FORMATS}")
    if _static_shape(boxes)[-1] not in (4, None):
        raise ValueError(f"convert_format: boxes need a last axis of 4. Received: shape={_static_shape(boxes)}")
    if (source.startswith("rel_") or target.startswith("rel_")) and (height is None or width is None):
        raise ValueError(f"convert_format: a relative format ({source!r} -> {target!r}) needs height and width")
    boxes = ops.cast(boxes, dtype)
    if source == target:
        return boxes
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    height = None if height is None else ops.cast(height, dtype)
    width = None if width is None else ops.cast(width, dtype)
    return _from_xyxy(_to_xyxy(boxes, source, height, width), target, height, width)


def _area(x1, y1, x2, y2):
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """``{"boxes", "labels"}`` with boxes clipped to the image (``[0, 1]`` for "rel_xyxy"); a box left
    with no area gets label -1."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(f"clip_to_image_size supports 'xyxy' and 'rel_xyxy'. "
                                  f"Received: {bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("clip_to_image_size: height and width are needed for 'xyxy' boxes")
    high_x, high_y = (width, height) if bounding_box_format == "xyxy" else (1.0, 1.0)
    x1, y1, x2, y2 = _parts(bounding_boxes["boxes"])
    clipped = [ops.clip(x1, 0, high_x), ops.clip(y1, 0, high_y), ops.clip(x2, 0, high_x), ops.clip(y2, 0, high_y)]
    result = dict(bounding_boxes, boxes=_join(clipped))
    if bounding_boxes.get("labels") is not None:
        areas = ops.squeeze(_area(*clipped), axis=-1)
        result["labels"] = ops.where(ops.greater(areas, 0), bounding_boxes["labels"], -1)
    return result


def _xyxy_only(name: str, bounding_box_format: str) -> None:
    if bounding_box_format != "xyxy":
        raise NotImplementedError(f"{name} supports 'xyxy' boxes (as Keras). Received: {bounding_box_format!r}")


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Boxes in the frame of the ``height x width`` crop at ``(top, left)``, clipped to it."""
    _xyxy_only("crop", bounding_box_format)
    x1, y1, x2, y2 = _parts(boxes)
    return _join([ops.clip(x1 - left, 0, width), ops.clip(y1 - top, 0, height),
                  ops.clip(x2 - left, 0, width), ops.clip(y2 - top, 0, height)])


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Boxes shifted by the ``top``/``left`` padding added to their image."""
    _xyxy_only("pad", bounding_box_format)
    x1, y1, x2, y2 = _parts(boxes)
    return _join([x1 + left, y1 + top, x2 + left, y2 + top])


def _inverse_affine(center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width):
    """Keras' per-image ``(batch, 2, 3)`` inverse affine matrices (the rows that map points)."""
    degrees = math.pi / 180.0
    cx, cy = center_x * (width - 1), center_y * (height - 1)
    rot, sx, sy = -angle * degrees, -shear_x * degrees, -shear_y * degrees
    tx, ty = -translate_x * (width - 1), -translate_y * (height - 1)
    a = ops.cos(rot - sy) / ops.cos(sy)
    b = a * ops.tan(sx) + ops.sin(rot)
    c = -ops.sin(rot - sy) / ops.cos(sy)
    d = ops.cos(rot) - c * ops.tan(sx)
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    return ops.reshape(ops.stack([a0, a1, a2, b0, b1, b2], axis=-1), (-1, 2, 3))


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width,
                     center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Batched ``(batch, N, 4)`` boxes mapped as Keras' affine augmentation maps their images: the
    bounds of each box's 4 transformed corners.  Angles are in degrees, translations and the centre
    (default 0.5) are fractions of the image; each parameter has one value per image."""
    _xyxy_only("affine_transform", bounding_box_format)
    matrix = _inverse_affine(0.5 if center_x is None else center_x, 0.5 if center_y is None else center_y,
                             angle, translate_x, translate_y, scale, shear_x, shear_y, height, width)
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    corners = ops.stack([ops.stack(pair, axis=-1) for pair in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))], axis=2)
    homogeneous = ops.concatenate([corners, ops.ones_like(corners[..., :1])], axis=-1)  # (B, N, 4, 3)
    mapped = ops.einsum("bnkj,bij->bnki", homogeneous, ops.cast(matrix, homogeneous.dtype))
    return ops.concatenate([ops.min(mapped, axis=2), ops.max(mapped, axis=2)], axis=-1)


def _checked_variance(variance):
    if variance is None:
        return None
    variance = np.asarray(variance, "float32")
    if variance.shape[-1:] != (4,):
        raise ValueError(f"variance must have 4 values. Received: {variance.tolist()}")
    return variance


def _centre_format(name: str, value: str) -> None:
    if value not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"{name} must be 'center_xywh' or 'center_yxhw'. Received: {value!r}")


def _image_size(image_shape):
    return (None, None) if image_shape is None else tuple(image_shape[:2])


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format, encoding_format="center_yxhw",
                         variance=None, image_shape=None):
    """Offsets of ``boxes`` from ``anchors`` in ``encoding_format``: centre shifts over the anchor's
    size, then log size ratios (sizes floored at epsilon), divided by ``variance``."""
    variance = _checked_variance(variance)
    _centre_format("encoding_format", encoding_format)
    height, width = _image_size(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    epsilon = keras_config.epsilon()
    anchor_size, box_size = ops.maximum(anchors[..., 2:], epsilon), ops.maximum(boxes[..., 2:], epsilon)
    deltas = ops.concatenate([(boxes[..., :2] - anchors[..., :2]) / anchor_size, ops.log(box_size / anchor_size)],
                             axis=-1)
    return deltas if variance is None else deltas / variance


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format, encoded_format="center_yxhw",
                           variance=None, image_shape=None):
    """The boxes (in ``box_format``) that ``encode_box_to_deltas`` encoded; dicts of levels map each."""
    variance = _checked_variance(variance)
    _centre_format("encoded_format", encoded_format)
    height, width = _image_size(image_shape)

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = delta if variance is None else delta * variance
        box = ops.concatenate([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                               ops.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def _rank(x) -> int:
    return len(_static_shape(x))


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1, image_shape=None):
    """Pairwise IoU: ``(M, N)``, or ``(batch, M, N)`` when either set is batched; with ``use_masking``,
    pairs where a box has all coordinates below 0 get ``mask_val``."""
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        if _rank(boxes) not in (2, 3):
            raise ValueError(f"compute_iou expects {name} of shape (N, 4) or (batch, N, 4). "
                             f"Received: shape={_static_shape(boxes)}")
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("compute_iou: a relative format needs image_shape")
    height, width = _image_size(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    first = ops.expand_dims(boxes1, -2)  # (..., M, 1, 4)
    second = ops.expand_dims(boxes2, -3)  # (..., 1, N, 4)
    x1, y1, x2, y2 = (ops.squeeze(p, -1) for p in _parts(first))
    u1, v1, u2, v2 = (ops.squeeze(p, -1) for p in _parts(second))
    overlap = (ops.maximum(ops.minimum(x2, u2) - ops.maximum(x1, u1), 0.0)
               * ops.maximum(ops.minimum(y2, v2) - ops.maximum(y1, v1), 0.0))
    union = _area(x1, y1, x2, y2) + _area(u1, v1, u2, v2) - overlap
    iou = overlap / (union + keras_config.epsilon())
    if not use_masking:
        return iou
    background = ops.logical_or(ops.less(ops.max(first, axis=-1), 0.0), ops.less(ops.max(second, axis=-1), 0.0))
    return ops.where(background, ops.cast(mask_val, iou.dtype), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of corresponding boxes (``(...)`` for ``(..., 4)`` inputs): IoU minus the centre
    distance over the enclosing box's diagonal (both squared) minus the aspect-ratio term."""
    if "rel" in bounding_box_format:
        raise ValueError("compute_ciou: relative formats are not supported (as Keras)")
    epsilon = keras_config.epsilon()
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy")
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy")
    x1, y1, x2, y2 = _parts(boxes1)
    u1, v1, u2, v2 = _parts(boxes2)
    width1, height1 = x2 - x1, y2 - y1 + epsilon
    width2, height2 = u2 - u1, v2 - v1 + epsilon
    overlap = (ops.maximum(ops.minimum(x2, u2) - ops.maximum(x1, u1), 0)
               * ops.maximum(ops.minimum(y2, v2) - ops.maximum(y1, v1), 0))
    union = width1 * height1 + width2 * height2 - overlap + epsilon
    iou = ops.squeeze(overlap / (union + epsilon), axis=-1)
    diagonal = ops.squeeze((ops.maximum(x2, u2) - ops.minimum(x1, u1)) ** 2
                           + (ops.maximum(y2, v2) - ops.minimum(y1, v1)) ** 2 + epsilon, axis=-1)
    centres = ops.squeeze(((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2, axis=-1)
    v = ops.squeeze((4 / math.pi**2) * (ops.arctan(width2 / height2) - ops.arctan(width1 / height1)) ** 2, axis=-1)
    alpha = v / (v - iou + (1 + epsilon))
    return iou - (centres / diagonal + v * alpha)

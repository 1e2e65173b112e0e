"""ONNX DeformConv (2-D): a convolution whose taps read the image at learned offsets, bilinearly.

Each output position's kernel tap ``(i, j)`` samples the input at
``(oh * stride - pad + i * dilation + dy, ...)`` with the offsets ``(dy, dx)``
of its offset group, bilinearly with zeros outside the image (GridSample's
align_corners=1, zero padding, as onnx's reference does), times the mask;
the samples then meet the weights in one batched matmul per group.  Graph
arithmetic throughout, so it compiles and differentiates (with respect to
the input, weights, offsets and mask) as is.
"""

from __future__ import annotations

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports


def _corners(pos, size):
    """The two neighbouring indices of each position (clipped into the image) with their weights
    (zero for a neighbour outside the image)."""
    low = th.floor(pos)
    corners = []
    for index, weight in ((low, 1 - (pos - low)), (low + 1, pos - low)):
        inside = th.logical_and(th.greater_equal(index, 0), th.less_equal(index, size - 1))
        corners.append((th.cast(th.clip(index, 0, size - 1), "int64"), th.where(inside, weight, 0.0)))
    return corners


@imports("DeformConv")
def _deform_conv(ctx, node, args, attrs):
    x, w, offset, bias, mask = (*args, None, None)[:5]
    if x.ndim != 4:
        raise Unsupported("DeformConv over other than 2 spatial dimensions")
    n, c, height, width = x.type.shape
    out_c, c_per_group, kh, kw = w.type.shape
    out_h, out_w = offset.type.shape[2:]
    if None in (c, height, width, out_c, c_per_group, kh, kw, out_h, out_w):
        raise Unsupported("DeformConv needs static channel, kernel, image and output sizes")
    group, offset_group = attrs.get("group", 1), attrs.get("offset_group", 1)
    pads, strides, dilations = attrs.get("pads", [0] * 4), attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    dtype = x.dtype
    offset = th.reshape(offset, (-1, offset_group, kh, kw, 2, out_h, out_w))
    grid = []
    for axis, (taps, outs, pad) in enumerate(((kh, out_h, pads[0]), (kw, out_w, pads[1]))):
        tap_shape = [1, 1, 1, 1, 1, 1]
        tap_shape[2 + axis] = taps
        out_shape = [1, 1, 1, 1, 1, 1]
        out_shape[4 + axis] = outs
        base = (th.reshape(th.arange(taps, dtype=dtype) * dilations[axis], tap_shape)
                + th.reshape(th.arange(outs, dtype=dtype) * strides[axis] - pad, out_shape))
        grid.append(base + th.cast(offset[:, :, :, :, axis], dtype))  # (N, G, kh, kw, oh, ow)
    per_group = c // offset_group
    ys, xs = (th.repeat(g, per_group, axis=1) for g in grid)  # (N, C, kh, kw, oh, ow)
    batch = th.reshape(th.arange(th.shape(x)[0], dtype="int64"), (-1, 1, 1, 1, 1, 1))
    channel = th.reshape(th.arange(c, dtype="int64"), (1, -1, 1, 1, 1, 1))
    samples = 0
    for iy, wy in _corners(ys, height):
        for ix, wx in _corners(xs, width):
            samples = samples + wy * wx * x[batch, channel, iy, ix]
    if mask is not None:
        mask = th.reshape(mask, (-1, offset_group, 1, kh, kw, out_h, out_w))
        samples = samples * th.reshape(th.repeat(mask, per_group, axis=2), (-1, c, kh, kw, out_h, out_w))
    columns = th.reshape(samples, (-1, group, c_per_group * kh * kw, out_h * out_w))
    weights = th.reshape(w, (1, group, out_c // group, c_per_group * kh * kw))
    out = th.reshape(th.matmul(weights, columns), (-1, out_c, out_h, out_w))
    if bias is not None:
        out = out + th.reshape(bias, (1, -1, 1, 1))
    return [th.cast(out, dtype)]

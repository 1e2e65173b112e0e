"""ONNX's DFT and STFT (products with constant cosine and sine matrices) and MelWeightMatrix.

Signals carry a last axis of 1 (real) or 2 (real, imaginary).  A transform
of length ``L`` along an axis of static size is two matrix products: the
first ``min(n, L)`` samples times ``cos(2 pi k n / L)`` and ``sin(...)`` for
each output frequency ``k`` (a shorter input is zero-padded, a longer one
cut, as NumPy's ``fft(n=L)``).  ``onesided`` keeps frequencies ``0 .. L//2``;
its inverse (``irfft``) doubles the weight of every frequency but 0 and
``L/2`` and returns the real part.  Sums run in float64, so that exact
zeros (the imaginary part of a symmetric signal's transform) stay within
ONNX's tolerance of 1e-7.  STFT frames the signal every
``frame_step`` samples, weights each frame by ``window`` and transforms it.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.reader import Unsupported, imports


def _parts(x):
    """(real, imaginary or None) of a signal whose last axis is 1 or 2."""
    if x.type.shape[-1] not in (1, 2):
        raise Unsupported("the last axis must be 1 (real) or 2 (complex)")
    return x[..., 0], (x[..., 1] if x.type.shape[-1] == 2 else None)


def _transform_last(real, imag, length: int, inverse: bool, onesided: bool, dtype: str):
    """The DFT (or inverse) of length ``length`` along the last axis of ``real + i imag``."""
    samples = real.type.shape[-1]
    if samples is None:
        raise Unsupported("the transformed axis must have a static size")
    if inverse and onesided:
        used = min(samples, length // 2 + 1)
        k = np.arange(used)[:, None]
        n = np.arange(length)[None, :]
        weight = np.where((k == 0) | (2 * k == length), 1.0, 2.0) / length
        cos, sin = weight * np.cos(2 * np.pi * k * n / length), weight * np.sin(2 * np.pi * k * n / length)
        out = th.matmul(real[..., :used], _c(cos, dtype))
        if imag is not None:
            out = out - th.matmul(imag[..., :used], _c(sin, dtype))
        return th.expand_dims(out, -1)
    used = min(samples, length)
    frequencies = length // 2 + 1 if onesided else length
    n = np.arange(used)[:, None]
    k = np.arange(frequencies)[None, :]
    cos, sin = np.cos(2 * np.pi * k * n / length), np.sin(2 * np.pi * k * n / length)
    if inverse:
        cos, sin = cos / length, -sin / length
    real, imag = real[..., :used], None if imag is None else imag[..., :used]
    out_real = th.matmul(real, _c(cos, dtype))
    out_imag = -th.matmul(real, _c(sin, dtype))
    if imag is not None:
        out_real = out_real + th.matmul(imag, _c(sin, dtype))
        out_imag = out_imag + th.matmul(imag, _c(cos, dtype))
    return th.stack([out_real, out_imag], axis=-1)


def _c(array, dtype):
    return th.constant(array.astype(dtype))


@imports("DFT")
def _dft(ctx, node, args, attrs):
    x, length, axis_input = (*args, None, None)[:3]
    axis = attrs.get("axis", 1) if ctx.opset < 20 else (
        int(np.ravel(ctx.need_static(axis_input, "axis"))[0]) if axis_input is not None else -2)
    axis %= x.ndim
    if axis == x.ndim - 1:
        raise Unsupported("the axis cannot be the last one (it holds the real and imaginary parts)")
    inverse, onesided = bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
    if length is not None:
        length = int(np.ravel(ctx.need_static(length, "dft_length"))[0])
    else:
        size = x.type.shape[axis]
        if size is None:
            raise Unsupported("the transformed axis must have a static size")
        length = 2 * (size - 1) if inverse and onesided else size
    real, imag = _parts(th.cast(x, "float64"))
    moved = [th.moveaxis(p, axis, -1) if p is not None else None for p in (real, imag)]
    out = _transform_last(*moved, length, inverse, onesided, "float64")
    return [th.cast(th.moveaxis(out, -2, axis), x.dtype)]


@imports("STFT")
def _stft(ctx, node, args, attrs):
    x, step, window, frame_length = (*args, None, None)[:4]
    step = int(np.ravel(ctx.need_static(step, "frame_step"))[0])
    samples = x.type.shape[1]
    if samples is None:
        raise Unsupported("the signal length must be static")
    if frame_length is not None:
        frame = int(np.ravel(ctx.need_static(frame_length, "frame_length"))[0])
    elif window is not None and window.type.shape[0] is not None:
        frame = window.type.shape[0]
    else:
        frame = samples
    frames = 1 + (samples - frame) // step
    positions = np.arange(frames)[:, None] * step + np.arange(frame)[None, :]
    framed = th.take(x, th.constant(positions.astype(np.int64)), axis=1)
    if window is not None:
        framed = framed * th.reshape(window, (1, 1, frame, 1))
    real, imag = _parts(th.cast(framed, "float64"))
    return [th.cast(_transform_last(real, imag, frame, False, bool(attrs.get("onesided", 1)), "float64"), x.dtype)]


@imports("MelWeightMatrix")
def _mel_weight_matrix(ctx, node, args, attrs):
    """The ``(dft_length // 2 + 1, num_mel_bins)`` triangular filters of ONNX's reference: band edges
    evenly spaced in mel between the two edge frequencies (``num_mel_bins + 2`` points), floored to
    spectrogram bins; each filter rises from its left edge to its centre (a single 1 where those meet)
    and falls to its right edge.  The bin counts and the sample rate must be constants."""
    mels = int(np.ravel(ctx.need_static(args[0], "num_mel_bins"))[0])
    dft_length = int(np.ravel(ctx.need_static(args[1], "dft_length"))[0])
    rate = th.cast(args[2], "float64")
    low, high = (2595 * th.log1p(th.cast(a, "float64") / 700) / np.log(10) for a in args[3:5])
    points = th.arange(mels + 2, dtype="float64") * ((high - low) / (mels + 2)) + low
    edges = th.floor((dft_length + 1) * (700 * th.expm1(points / 2595 * np.log(10))) / rate)
    left, centre, right = (th.reshape(edges[k:k + mels], (1, mels)) for k in range(3))
    j = th.reshape(th.arange(dft_length // 2 + 1, dtype="float64"), (-1, 1))
    rising = th.where(th.greater(centre, left), (j - left) / th.maximum(centre - left, 1), 1.0)
    falling = (right - j) / th.maximum(right - centre, 1)
    rises = th.logical_and(th.greater_equal(j, left), th.less_equal(j, centre))
    falls = th.logical_and(th.greater_equal(j, centre), th.less(j, right))
    out = th.where(falls, falling, th.where(rises, rising, 0.0))
    dtype = NUMPY_DTYPES[attrs.get("output_datatype", 1)]
    return [th.cast(out, dtype)]

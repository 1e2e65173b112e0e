"""Keras' ``ops.math``: segment reductions, framing, FFTs, ``rsqrt`` and ``logdet``.

Segment reductions are compositions: ``segment_sum`` scatters with
``inc_subtensor`` (its gradient gathers), ``segment_max``, ``segment_min``
and ``segment_prod`` reduce each segment's rows selected by a mask
(``num_segments x rows`` work, fine for the segment counts they serve).
Ids below zero are dropped, as Keras does; an empty segment holds the
reduction's identity (0, -inf, inf, 1).  ``num_segments`` must be given for
symbolic ids (eagerly it defaults to ``max(ids) + 1``).  FFTs take and
return ``(real, imaginary)`` pairs (``graph/ops/fourier.py``); ``stft`` is
frames times the (periodic) window, through ``rfft``, and ``istft`` its
windowed overlap-add inverse (SciPy's ``istft``, which Keras' NumPy backend
calls), the overlap-add being one ``inc_subtensor``.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.ops.eager import eager
from theanine.graph.basic import Variable
from theanine.graph.ops import decompositions, fourier

__all__ = [
    "segment_sum", "segment_max", "segment_min", "segment_prod", "extract_sequences", "fft", "fft2",
    "ifft2", "rfft", "irfft", "stft", "istft", "rsqrt", "logdet",
]


def _segments(what: str, data, segment_ids, num_segments):
    data, ids = th.as_tensor_variable(data), th.as_tensor_variable(segment_ids)
    if ids.ndim != 1 or data.ndim < 1:
        raise ValueError(f"ops.{what}: segment_ids must be a vector over data's first axis. "
                         f"Received: {ids.type} and {data.type}")
    if num_segments is None:
        if isinstance(segment_ids, Variable):
            raise ValueError(f"ops.{what}: num_segments is required for symbolic segment_ids")
        num_segments = int(np.max(segment_ids)) + 1 if np.size(segment_ids) else 0
    return data, th.cast(ids, "int64"), int(num_segments)


@eager
def segment_sum(data, segment_ids, num_segments=None, sorted: bool = False):
    """The sum of the rows of ``data`` in each segment."""
    data, ids, n = _segments("segment_sum", data, segment_ids, num_segments)
    valid = th.ge(ids, 0)
    mask = th.reshape(valid, (-1,) + (1,) * (data.ndim - 1))
    rows = th.where(mask, data, th.zeros_like(data))
    shape = (n, *[data.shape[i] for i in range(1, data.ndim)])
    return th.inc_subtensor(th.zeros(shape, dtype=data.dtype)[th.where(valid, ids, 0)], rows)


def _masked_reduction(what: str, reduce, identity: float):
    def op(data, segment_ids, num_segments=None, sorted: bool = False):
        data, ids, n = _segments(what, data, segment_ids, num_segments)
        member = th.eq(th.expand_dims(ids, 0), th.expand_dims(th.arange(n, dtype="int64"), 1))
        member = th.reshape(member, (n, -1) + (1,) * (data.ndim - 1))
        fill = th.constant(np.asarray(identity).astype(data.dtype) if data.dtype.startswith("float")
                           else _int_identity(identity, data.dtype))
        return reduce(th.where(member, th.expand_dims(data, 0), fill), axis=1)

    op.__name__ = op.__qualname__ = what
    op.__doc__ = f"The {what.split('_')[1]} of the rows of ``data`` in each segment."
    return eager(op)


def _int_identity(identity: float, dtype: str):
    info = np.iinfo(dtype)
    return np.asarray(info.min if identity == -np.inf else info.max if identity == np.inf else identity, dtype)


segment_max = _masked_reduction("segment_max", th.max, -np.inf)
segment_min = _masked_reduction("segment_min", th.min, np.inf)
segment_prod = _masked_reduction("segment_prod", th.prod, 1.0)


@eager
def extract_sequences(x, sequence_length: int, sequence_stride: int):
    """Frames of ``sequence_length`` samples every ``sequence_stride`` along the last axis."""
    x = th.as_tensor_variable(x)
    size = x.type.shape[-1]
    if size is None:
        raise ValueError(f"ops.extract_sequences: the last axis of {x.type} needs a static size")
    if sequence_length < 1 or sequence_stride < 1:
        raise ValueError(f"ops.extract_sequences: sequence_length and sequence_stride must be positive. "
                         f"Received: {sequence_length} and {sequence_stride}")
    count = (size - (sequence_length - sequence_stride)) // sequence_stride
    starts = np.arange(count)[:, None] * sequence_stride + np.arange(sequence_length)[None, :]
    return x[..., th.constant(starts.astype("int64"))]


fft = eager(fourier.fft)
fft2 = eager(fourier.fft2)
ifft2 = eager(fourier.ifft2)
rfft = eager(fourier.rfft)
irfft = eager(fourier.irfft)


def _window(window, sequence_length: int, dtype: str):
    if window is None:
        return np.ones(sequence_length, dtype)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"ops.stft: window must be 'hann', 'hamming', a tensor or None. Received: {window!r}")
        k = np.arange(sequence_length)
        a = 0.5 if window == "hann" else 0.54
        return (a - (1 - a) * np.cos(2 * np.pi * k / sequence_length)).astype(dtype)  # periodic, as SciPy's
    return window


@eager
def stft(x, sequence_length: int, sequence_stride: int, fft_length: int, window="hann", center: bool = True):
    """The short-time Fourier transform ``(real, imaginary)``, shaped ``(..., frames, fft_length // 2 + 1)``."""
    x = th.as_tensor_variable(x)
    if x.dtype not in ("float32", "float64"):
        raise TypeError(f"ops.stft: expected float32 or float64. Received: {x.dtype}")
    if fft_length < sequence_length:
        raise ValueError(f"ops.stft: fft_length must be >= sequence_length. Received: "
                         f"sequence_length={sequence_length}, fft_length={fft_length}")
    win = th.cast(_window(window, sequence_length, x.dtype), x.dtype)
    if win.ndim != 1 or win.type.shape[0] not in (None, sequence_length):
        raise ValueError(f"ops.stft: the window must have shape ({sequence_length},). Received: {win.type}")
    if center:
        half = fft_length // 2
        x = th.concatenate([th.flip(x[..., 1:half + 1], -1), x, th.flip(x[..., -half - 1:-1], -1)], axis=-1)
    left = (fft_length - sequence_length) // 2
    win = th.pad(win, [(left, fft_length - sequence_length - left)])
    frames = extract_sequences(x, fft_length, sequence_stride) * win
    return fourier.rfft(frames, fft_length)


def _overlap_add(frames, stride: int):
    """Frames ``(..., count, length)`` added into one signal at offsets ``i * stride``."""
    count, length = frames.type.shape[-2:]
    positions = (np.arange(count)[:, None] * stride + np.arange(length)[None, :]).astype("int64")
    total = (count - 1) * stride + length
    signal = th.zeros((*[frames.shape[i] for i in range(frames.ndim - 2)], total), dtype=frames.dtype)
    return th.inc_subtensor(signal[..., th.constant(positions)], frames)


@eager
def istft(x, sequence_length: int, sequence_stride: int, fft_length: int, length=None, window="hann",
          center: bool = True):
    """The signal whose ``stft`` is the ``(real, imaginary)`` pair ``x`` (windowed overlap-add)."""
    real, imag = (th.as_tensor_variable(part) for part in x)
    if real.ndim < 2 or real.type.shape[-2] is None:
        raise ValueError(f"ops.istft: x must be (..., frames, bins) with a static frame count. Received: {real.type}")
    dtype = real.dtype
    win = th.cast(_window(window, sequence_length, dtype), dtype)
    if win.ndim != 1 or win.type.shape[0] not in (None, sequence_length):
        raise ValueError(f"ops.istft: the window must have shape ({sequence_length},). Received: {win.type}")
    left = (fft_length - sequence_length) // 2
    win = th.pad(win, [(left, fft_length - sequence_length - left)])
    frames = fourier.irfft((real, imag), fft_length)
    count = real.type.shape[-2]
    norm = _overlap_add(th.broadcast_to(th.square(win), (count, fft_length)), sequence_stride)
    signal = _overlap_add(frames * win, sequence_stride)
    signal = signal / th.where(th.gt(norm, 1e-10), norm, th.ones_like(norm))
    if window is None:
        signal = signal * (fft_length / sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        return signal[..., start:start + length]
    return signal[..., start:-(fft_length // 2)] if center else signal


@eager
def rsqrt(x):
    """``1 / sqrt(x)``."""
    return 1.0 / th.sqrt(x)


@eager
def logdet(x):
    """``log(det(x))`` of a positive-definite matrix (``slogdet``'s log-magnitude)."""
    return decompositions.slogdet(x)[1]

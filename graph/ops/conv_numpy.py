"""NumPy kernels of the convolution and pooling ops (their ``perform``): im2col, col2im, window maxima.

All arrays are channels-last, ``(batch, *spatial, channels)``; ``pads`` is
one ``(lo, hi)`` pair per spatial axis (a negative entry crops).  Nothing
loops over pixels in Python:

- ``conv``: im2col through ``sliding_window_view`` (a strided view of
  every window, then one copy into a patch matrix) and one batched matmul
  over the groups.
- ``conv_adjoint`` (col2im): one batched matmul gives each window's
  contribution; they are added into the padded result with one strided
  slice per kernel tap (a loop over the few taps of the kernel).
- Pooling walks the taps the same way: one strided view per tap, combined
  with ``np.maximum``; the position of the maximum is the first tap that
  holds it (NumPy's ``argmax`` rule, a NaN counting as the maximum).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Pads = Sequence[tuple[int, int]]


def pad_spatial(x: np.ndarray, pads: Pads, value=0) -> np.ndarray:
    """``x`` with ``lo``/``hi`` entries of ``value`` added around each spatial axis (cropped if < 0)."""
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pads, x.shape[1:-1], strict=True))
    x = x[(slice(None), *crop, slice(None))]
    widths = [(0, 0), *((max(lo, 0), max(hi, 0)) for lo, hi in pads), (0, 0)]
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, constant_values=value)
    return x


def unpad_spatial(padded: np.ndarray, pads: Pads, sizes: Sequence[int]) -> np.ndarray:
    """The inverse of ``pad_spatial`` for a result of spatial ``sizes``: entry ``i`` is
    ``padded[i + lo]``, zero where that falls outside ``padded`` (a cropped border)."""
    out = np.zeros((padded.shape[0], *sizes, padded.shape[-1]), dtype=padded.dtype)
    target, source = [slice(None)], [slice(None)]
    for (lo, _), n, extent in zip(pads, sizes, padded.shape[1:-1], strict=True):
        start, stop = max(0, -lo), min(n, extent - lo)
        target.append(slice(start, max(stop, start)))
        source.append(slice(start + lo, max(stop, start) + lo))
    out[(*target, slice(None))] = padded[(*source, slice(None))]
    return out


def output_sizes(padded_sizes: Sequence[int], kernel: Sequence[int], strides, dilation) -> tuple[int, ...]:
    return tuple(
        (p - (k - 1) * d - 1) // s + 1 for p, k, s, d in zip(padded_sizes, kernel, strides, dilation, strict=True)
    )


def taps(kernel: Sequence[int], outputs: Sequence[int], strides, dilation) -> Iterator[tuple]:
    """For each kernel tap, the index of the padded input that the windows read there."""
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield (slice(None), *(
            slice(a * d, a * d + (o - 1) * s + 1, s) for a, o, s, d in zip(tap, outputs, strides, dilation, strict=True)
        ), slice(None))


def _group_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """``(*K, Cig, G * Cog)`` -> ``(G, prod(K) * Cig, Cog)``, rows in (tap, channel) order."""
    rank = kernel.ndim - 2
    k = kernel.reshape(*kernel.shape[:-1], groups, kernel.shape[-1] // groups)
    k = k.transpose(rank + 1, *range(rank + 1), rank + 2)
    return k.reshape(groups, int(np.prod(kernel.shape[:-1])), k.shape[-1])


def conv(x: np.ndarray, kernel: np.ndarray, pads: Pads, strides, dilation, groups: int) -> np.ndarray:
    """Cross-correlation (Keras' convolution): ``(N, *S, Cin)``, ``(*K, Cin/G, Cout)`` -> ``(N, *O, Cout)``."""
    rank = kernel.ndim - 2
    xp = pad_spatial(x, pads)
    spans = tuple((k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation, strict=True))
    windows = sliding_window_view(xp, spans, axis=tuple(range(1, rank + 1)))
    windows = windows[(slice(None), *(slice(None, None, s) for s in strides), slice(None),
                       *(slice(None, None, d) for d in dilation))]
    n, outputs = x.shape[0], windows.shape[1:rank + 1]
    windows = windows.reshape(n, *outputs, groups, x.shape[-1] // groups, *kernel.shape[:rank])
    # patch rows in (tap, channel) order: the copy reads channels, the contiguous axis of x
    patches = windows.transpose(rank + 1, 0, *range(1, rank + 1), *range(rank + 3, 2 * rank + 3), rank + 2)
    patches = patches.reshape(groups, n * int(np.prod(outputs)), int(np.prod(kernel.shape[:-1])))
    out = np.matmul(patches, _group_kernel(kernel, groups))
    out = out.reshape(groups, n, *outputs, kernel.shape[-1] // groups)
    return np.moveaxis(out, 0, -2).reshape(n, *outputs, kernel.shape[-1])


def conv_adjoint(y: np.ndarray, kernel: np.ndarray, sizes: Sequence[int], pads: Pads, strides, dilation,
                 groups: int) -> np.ndarray:
    """The transpose of ``conv`` from inputs of spatial ``sizes``, for the first ``y.shape[1:-1]`` windows."""
    rank = kernel.ndim - 2
    n, outputs, taps_shape, per_group = y.shape[0], y.shape[1:-1], kernel.shape[:rank], kernel.shape[rank]
    per_group_y = y.reshape(int(np.prod(y.shape[:-1])), groups, y.shape[-1] // groups).transpose(1, 0, 2)
    cols = np.matmul(per_group_y, _group_kernel(kernel, groups).transpose(0, 2, 1))
    cols = cols.reshape(groups, n, *outputs, *taps_shape, per_group)
    padded_sizes = [size + lo + hi for size, (lo, hi) in zip(sizes, pads, strict=True)]
    padded = np.zeros((n, *padded_sizes, groups, per_group), dtype=np.result_type(y, kernel))
    for tap, index in zip(np.ndindex(*taps_shape), taps(taps_shape, outputs, strides, dilation), strict=True):
        contribution = cols[(slice(None), slice(None), *(slice(None),) * rank, *tap)]
        padded[index] += np.moveaxis(contribution, 0, -2)
    return unpad_spatial(padded.reshape(n, *padded_sizes, groups * per_group), pads, sizes)


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def max_pool(x: np.ndarray, pool: Sequence[int], pads: Pads, strides, dilation) -> np.ndarray:
    """The maximum of each window (padding never wins: it is -inf, or the integer minimum)."""
    xp = pad_spatial(x, pads, _lowest(x.dtype))
    outputs = output_sizes(xp.shape[1:-1], pool, strides, dilation)
    best = None
    for index in taps(pool, outputs, strides, dilation):
        best = xp[index].copy() if best is None else np.maximum(best, xp[index], out=best)
    return best


def argmax_taps(x: np.ndarray, pool: Sequence[int], pads: Pads, strides, dilation) -> np.ndarray:
    """For each window and channel, the number (in C order) of the first tap holding its maximum.

    Updated with arithmetic rather than masked writes (``np.copyto(where=)``
    branches on every element and is several times slower).
    """
    xp = pad_spatial(x, pads, _lowest(x.dtype))
    outputs = output_sizes(xp.shape[1:-1], pool, strides, dilation)
    best, where = None, np.zeros((x.shape[0], *outputs, x.shape[-1]), dtype=np.int32)
    for number, index in enumerate(taps(pool, outputs, strides, dilation)):
        values = xp[index]
        if best is None:
            best = values.copy()
            continue
        better = values > best
        if x.dtype.kind == "f":
            better |= np.isnan(values) & ~np.isnan(best)
        np.maximum(best, values, out=best)
        where += better * (np.int32(number) - where)
    return where


def _selected_bits(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bits of ``values`` where ``mask`` holds and all-zero bits (+0.0) elsewhere, as unsigned
    integers of the same width: an exact select (a NaN elsewhere does not leak, as ``values * mask``
    would let it) without ``np.where``'s per-element branch."""
    bits = np.dtype(f"u{values.dtype.itemsize}")
    return values.view(bits) & -(mask.astype(bits))


def scatter_to_argmax(x: np.ndarray, g: np.ndarray, pool, pads: Pads, strides, dilation) -> np.ndarray:
    """Each window's ``g`` added at the position of its maximum in ``x`` (max pooling's gradient)."""
    where = argmax_taps(x, pool, pads, strides, dilation)
    padded_sizes = [n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads, strict=True)]
    padded = np.zeros((x.shape[0], *padded_sizes, x.shape[-1]), dtype=g.dtype)
    g = np.ascontiguousarray(g)
    for number, index in enumerate(taps(pool, g.shape[1:-1], strides, dilation)):
        padded[index] += _selected_bits(where == number, g).view(g.dtype)
    return unpad_spatial(padded, pads, x.shape[1:-1])


def gather_at_argmax(x: np.ndarray, v: np.ndarray, pool, pads: Pads, strides, dilation) -> np.ndarray:
    """``v`` read at the position of each window's maximum in ``x`` (the transpose of the scatter).

    Exactly one tap is selected per entry, so OR-ing the selected bits is exact (signed zeros too).
    """
    where = argmax_taps(x, pool, pads, strides, dilation)
    vp = pad_spatial(v, pads)
    out = np.zeros(where.shape, dtype=f"u{v.dtype.itemsize}")
    for number, index in enumerate(taps(pool, where.shape[1:-1], strides, dilation)):
        out |= _selected_bits(where == number, np.ascontiguousarray(vp[index]))
    return out.view(v.dtype)

"""Discrete Fourier transforms on (real, imaginary) pairs of float tensors.

theanine's tensors are real, so a complex signal travels as two float
tensors of one shape, as Keras' ``ops.fft`` takes and returns it.
``FourierTransform(kind, n)`` is one op for NumPy's ``fft``, ``ifft`` (last
axis), ``fft2``, ``ifft2`` (last two axes), ``rfft`` (a real input) and
``irfft`` (a real output of length ``n``); ``perform`` is ``np.fft``, the
outputs keep the input's float dtype.  The complex transforms are linear,
so their gradient is the adjoint transform: ``n * ifft`` of the output
gradient for ``fft``, ``fft / n`` for ``ifft`` (``n`` the number of points
transformed).  ``rfft``'s is ``n * ifft`` of the gradient padded with zeros
to the full spectrum, real part, cropped or padded back to the input
length; ``irfft`` has none.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.creation import zeros
from theanine.graph.ops.join import concatenate
from theanine.graph.ops.math import cast
from theanine.graph.ops.shape_compositions import pad
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType

__all__ = ["FourierTransform", "fft", "ifft", "fft2", "ifft2", "rfft", "irfft"]

_AXES = {"fft": 1, "ifft": 1, "fft2": 2, "ifft2": 2, "rfft": 1, "irfft": 1}
_ADJOINT = {"fft": "ifft", "ifft": "fft", "fft2": "ifft2", "ifft2": "fft2"}


class FourierTransform(Op):
    """One of NumPy's FFTs on a (real, imaginary) pair; ``n`` is rfft/irfft's length (None: the input's)."""

    __props__ = ("kind", "n")

    def __init__(self, kind: str, n: int | None = None):
        if kind not in _AXES:
            raise ValueError(f"FourierTransform: unknown kind {kind!r}; expected one of {sorted(_AXES)}")
        self.kind, self.n = kind, None if n is None else int(n)

    def __str__(self) -> str:
        return self.kind if self.n is None else f"{self.kind}{{n={self.n}}}"

    def make_node(self, *parts) -> Apply:
        parts = [as_tensor_variable(p) for p in parts]
        expected = 1 if self.kind == "rfft" else 2
        if len(parts) != expected:
            raise TypeError(f"{self.kind} takes {expected} tensor(s). Received: {len(parts)}")
        for p in parts:
            if not p.dtype.startswith("float") or p.ndim < _AXES[self.kind]:
                raise TypeError(f"{self.kind}: expected float tensors of rank >= {_AXES[self.kind]}. "
                                f"Received: {p.type}")
        if len(parts) == 2 and parts[0].type != parts[1].type:
            raise ValueError(f"{self.kind}: the real and imaginary parts differ: {parts[0].type} and {parts[1].type}")
        dtype, shape = parts[0].dtype, parts[0].type.shape
        if self.kind == "rfft":
            length = self.n if self.n is not None else shape[-1]
            out = shape[:-1] + (None if length is None else length // 2 + 1,)
            return Apply(self, parts, [TensorType(dtype, out), TensorType(dtype, out)])
        if self.kind == "irfft":
            length = self.n if self.n is not None else (None if shape[-1] is None else 2 * (shape[-1] - 1))
            return Apply(self, parts, [TensorType(dtype, shape[:-1] + (length,))])
        return Apply(self, parts, [TensorType(dtype, shape), TensorType(dtype, shape)])

    def perform(self, node, inputs):
        dtype = node.outputs[0].dtype
        if self.kind == "rfft":
            spectrum = np.fft.rfft(inputs[0], n=self.n, axis=-1)
            return [np.real(spectrum).astype(dtype), np.imag(spectrum).astype(dtype)]
        signal = inputs[0] + 1j * inputs[1]
        if self.kind == "irfft":
            return [np.fft.irfft(signal, n=self.n, axis=-1).astype(dtype)]
        result = getattr(np.fft, self.kind)(signal)
        return [np.real(result).astype(dtype), np.imag(result).astype(dtype)]

    def infer_shape(self, node, input_shapes):
        return [tuple(o.shape[i] if d is None else d for i, d in enumerate(o.type.shape)) for o in node.outputs]

    def L_op(self, inputs, outputs, output_grads):
        if self.kind == "irfft":
            raise NotImplementedError("irfft has no gradient in theanine")
        if self.kind == "rfft":
            return [self._rfft_grad(inputs[0], *output_grads)]
        real, imag = FourierTransform(_ADJOINT[self.kind])(*output_grads)
        points = _points(inputs[0], _AXES[self.kind])
        scale = points if self.kind in ("fft", "fft2") else 1.0 / points
        return [real * scale, imag * scale]

    def _rfft_grad(self, x, grad_real, grad_imag):
        length = self.n if self.n is not None else x.shape[-1]
        tail = length - grad_real.shape[-1]  # the spectrum's mirrored half carries no gradient
        zeros = [(0, 0)] * (x.ndim - 1)
        full_real = concatenate([grad_real, _zeros_tail(grad_real, tail)], axis=-1)
        full_imag = concatenate([grad_imag, _zeros_tail(grad_imag, tail)], axis=-1)
        signal, _ = FourierTransform("ifft")(full_real, full_imag)
        signal = signal * length
        if self.n is None:
            return signal
        m = x.type.shape[-1]
        if m is not None and m <= self.n:
            return signal[..., :m]
        return pad(signal, zeros + [(0, m - self.n)])


def _zeros_tail(x, count):
    return zeros((*[x.shape[i] for i in range(x.ndim - 1)], count), dtype=x.dtype)


def _points(x, axes: int):
    total = 1
    for i in range(x.ndim - axes, x.ndim):
        total = total * x.shape[i]
    return cast(total, x.dtype)


def _pair(what: str, x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{what}: x must be a pair (real, imaginary) of float tensors. Received: {x!r}")
    return [as_tensor_variable(p) for p in x]


def fft(x):
    """The FFT along the last axis of a (real, imaginary) pair."""
    return tuple(FourierTransform("fft").apply(*_pair("fft", x)).outputs)


def ifft(x):
    """The inverse FFT along the last axis of a (real, imaginary) pair."""
    return tuple(FourierTransform("ifft").apply(*_pair("ifft", x)).outputs)


def fft2(x):
    """The 2-D FFT over the last two axes of a (real, imaginary) pair."""
    return tuple(FourierTransform("fft2").apply(*_pair("fft2", x)).outputs)


def ifft2(x):
    """The inverse 2-D FFT over the last two axes of a (real, imaginary) pair."""
    return tuple(FourierTransform("ifft2").apply(*_pair("ifft2", x)).outputs)


def rfft(x, fft_length: int | None = None):
    """The FFT of a real signal (cropped or zero-padded to ``fft_length``): the non-negative frequencies."""
    return tuple(FourierTransform("rfft", fft_length).apply(x).outputs)


def irfft(x, fft_length: int | None = None):
    """The real signal of length ``fft_length`` whose rfft is the (real, imaginary) pair ``x``."""
    return FourierTransform("irfft", fft_length)(*_pair("irfft", x))

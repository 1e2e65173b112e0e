"""Keras' STFT initializer: convolution kernels whose outputs are one side of a windowed DFT.

A kernel of shape ``(T, C, F)`` (frame length, input channels, ``fft_length
// 2 + 1`` frequency bins) holds ``cos(-2 pi t f / n)`` (``side="real"``) or
``sin(...)`` (``"imag"``), ``n = 2 (F - 1)``, times a window over ``t``
(a ``scipy.signal.windows`` name or an array) divided by its L2 norm
(``scaling="density"``) or its L1 norm (``"spectrum"``), as Keras 3's
``STFTInitializer`` (its ``STFTSpectrogram`` layer's kernels) computes it.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from theanine.frontend.initializer_base import Initializer, shape_and_dtype

__all__ = ["STFT", "STFTInitializer", "stft"]

_SIDES = ("real", "imag")
_SCALINGS = (None, "density", "spectrum")


class STFT(Initializer):
    """The real or imaginary side of a windowed DFT as a ``(T, C, F)`` convolution kernel."""

    config_names = ("side", "window", "scaling", "periodic")

    def __init__(self, side: str = "real", window="hann", scaling: str | None = "density",
                 periodic: bool = False):
        if side not in _SIDES:
            raise ValueError(f"STFT: side must be 'real' or 'imag'. Received: side={side!r}")
        if isinstance(window, str):
            scipy.signal.get_window(window, 1)  # raises for an unknown window name
        if scaling not in _SCALINGS:
            raise ValueError(f"STFT: scaling must be None, 'density' or 'spectrum'. Received: scaling={scaling!r}")
        self.side, self.scaling, self.periodic = side, scaling, bool(periodic)
        self.window = window if window is None or isinstance(window, str) else np.asarray(window).tolist()

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = shape_and_dtype(shape, dtype)
        if len(shape) != 3:
            raise ValueError(f"STFT: the kernel shape must be (frame_length, channels, fft_bins). "
                             f"Received: shape={shape}")
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=np.float64).reshape(frame_length, 1, 1)
        freq = np.arange(bins, dtype=np.float64).reshape(1, 1, bins) / ((bins - 1) * 2)
        angles = -2.0 * time * freq * np.pi
        kernel = np.cos(angles) if self.side == "real" else np.sin(angles)
        window = self._window(frame_length)
        if window is not None:
            kernel = kernel * window / self._scale(window)
        return np.broadcast_to(kernel, shape).astype(dtype)

    def _window(self, frame_length: int) -> np.ndarray | None:
        """The window as a ``(T, 1, 1)`` array, or None."""
        if self.window is None:
            return None
        if isinstance(self.window, str):
            window = scipy.signal.get_window(self.window, frame_length, self.periodic)
        else:
            window = np.asarray(self.window, dtype=np.float64)
        if window.shape != (frame_length,):
            raise ValueError(f"STFT: the window must have shape ({frame_length},), the frame length. "
                             f"Received: a window of shape {window.shape}")
        return window.reshape(frame_length, 1, 1)

    def _scale(self, window: np.ndarray) -> float:
        if self.scaling == "density":
            return float(np.sqrt(np.sum(np.square(window))))
        if self.scaling == "spectrum":
            return float(np.sum(np.abs(window)))
        return 1.0


STFTInitializer = stft = STFT

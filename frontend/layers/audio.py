"""Keras 3's audio layers: ``STFTSpectrogram`` and ``MelSpectrogram``.

``STFTSpectrogram`` is Keras' convolution formulation: the DFT of each
frame is a strided 1-D convolution with two trainable kernels
(``real_kernel``, ``imag_kernel``, shaped ``(frame_length, 1, fft_length //
2 + 1)``) holding ``cos`` and ``-sin`` of ``2 pi t f / fft_length`` times the
window, divided by the window's norm ("density") or sum ("spectrum"); each
channel of a ``(batch, time, channels)`` signal is transformed on its own.
``MelSpectrogram`` takes ``(batch, time)`` or ``(time,)`` signals: a centred
STFT (``ops.stft``, reflect padding), magnitudes raised to ``mag_exp``, the
HTK mel filter bank of Keras' ``linear_to_mel_weight_matrix``, then decibels
clipped ``top_db`` below the maximum of the whole batch (as Keras); the
result is ``(batch, num_mel_bins, frames)``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

import theanine as th
from theanine.frontend.layers.base import Layer, register_layer
from theanine.frontend.layers.conv_arguments import positive_int, standard_data_format
from theanine.frontend.ops.math import stft
from theanine.graph.basic import Variable

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
EPSILON = 1e-7  # Keras' backend.epsilon()


def stft_kernel(side: str, frame_length: int, bins: int, window, scaling, periodic: bool) -> np.ndarray:
    """Keras' ``initializers.STFT`` values, ``(frame_length, 1, bins)``: ``cos`` ("real") or ``sin``
    ("imag") of ``-2 pi t f / (2 (bins - 1))``, times the window over its scaling."""
    time = np.arange(frame_length, dtype="float64")[:, None, None]
    freq = np.arange(bins, dtype="float64")[None, None, :] / ((bins - 1) * 2)
    args = -2.0 * time * freq * math.pi
    kernel = np.cos(args) if side == "real" else np.sin(args)
    if window is None:
        return kernel
    win = scipy.signal.get_window(window, frame_length, periodic) if isinstance(window, str) \
        else np.asarray(window, "float64")
    if win.shape != (frame_length,):
        raise ValueError(f"The shape of `window` must be equal to [frame_length]. Received: window shape={win.shape}")
    scale = {"density": np.sqrt(np.sum(win ** 2)), "spectrum": np.sum(np.abs(win)), None: 1.0}[scaling]
    return kernel * win[:, None, None] / scale


@register_layer
class STFTSpectrogram(Layer):
    """The spectrogram of each channel of ``(batch, time, channels)`` signals (``data_format`` as Keras):
    ``mode`` "log" (log magnitude), "magnitude", "psd", "real", "imag", "angle" or "stft" (real and
    imaginary parts stacked on the frequency axis).  Outputs are ``(batch, frames, channels * bins)``
    (channels first: ``(batch, channels * bins, frames)``), or with ``expand_dims``
    ``(batch, frames, bins, channels)`` (``(batch, channels, frames, bins)``)."""

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        positive_int(frame_length, "frame_length")
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError("`frame_step` should be a positive integer not greater than `frame_length`. "
                             f"Received frame_step={frame_step}, frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError("`fft_length` should be not less than `frame_length`. "
                             f"Received fft_length={fft_length}, frame_length={frame_length}")
        if mode not in MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(MODES)}. Received: mode={mode}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        if padding not in ("valid", "same"):
            raise ValueError(f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}")
        if isinstance(window, str):
            scipy.signal.get_window(window, 1)  # an unknown window name raises here, as in Keras
        super().__init__(**kwargs)
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, frame_length, frame_step, fft_length
        self._frame_step = frame_step or frame_length // 2
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = list(window) if isinstance(window, (list, tuple, np.ndarray)) else window
        self.periodic, self.scaling, self.padding = bool(periodic), scaling, padding
        self.expand_dims = bool(expand_dims)
        self.data_format = standard_data_format(data_format)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        for side in ("real", "imag"):
            if self.mode != ("imag" if side == "real" else "real"):
                values = stft_kernel(side, self.frame_length, shape[2], self.window, self.scaling, self.periodic)
                setattr(self, f"{side}_kernel", self.add_weight(
                    shape=shape, name=f"{side}_kernel",
                    initializer=lambda s, dtype=None, v=values: v.astype(dtype or self.dtype)))

    def _conv(self, signals, kernel, channels: int):
        """``(batch * channels, time, 1)`` signals convolved: ``(batch, channels, bins, frames)``."""
        out = th.conv(signals, th.cast(kernel, signals.dtype), self._frame_step, self.padding, 1, 1, "channels_last")
        bins = self._fft_length // 2 + 1
        return th.reshape(th.transpose(out, (0, 2, 1)), (-1, channels, bins, out.shape[1]))

    def call(self, inputs):
        if inputs.ndim != 3:
            raise ValueError(f"layer {self.name!r} (STFTSpectrogram) expects signals (batch, time, channels) "
                             f"(channels first: (batch, channels, time)). Received: input of type {inputs.type}")
        if inputs.dtype not in ("float16", "float32", "float64"):
            raise TypeError(f"Invalid input type. Expected `float16`, `float32` or `float64`. "
                            f"Received: input type={inputs.dtype}")
        channels_last = self.data_format == "channels_last"
        channels = inputs.type.shape[2 if channels_last else 1]
        if channels is None:
            raise ValueError(f"layer {self.name!r} (STFTSpectrogram) needs a static number of channels. "
                             f"Received: input of type {inputs.type}")
        planes = th.transpose(inputs, (0, 2, 1)) if channels_last else inputs
        signals = th.reshape(planes, (-1, planes.shape[2], 1))
        real = None if self.mode == "imag" else self._conv(signals, self.real_kernel, channels)
        imag = None if self.mode == "real" else self._conv(signals, self.imag_kernel, channels)
        if self.mode in ("real", "imag"):
            return self._arrange(real if self.mode == "real" else imag)
        if self.mode == "angle":
            return self._arrange(th.arctan2(imag, real))
        if self.mode == "stft":
            return self._arrange(th.concatenate([real, imag], axis=2))
        power = th.sqr(real) + th.sqr(imag)
        if self.mode == "psd":
            inner = th.pad(power[:, :, 1:-1, :], [(0, 0), (0, 0), (1, 1), (0, 0)])
            return self._arrange(power + inner)
        magnitude = self._arrange(th.sqrt(th.maximum(power, EPSILON)))
        return magnitude if self.mode == "magnitude" else th.log(th.maximum(magnitude, EPSILON))

    def _arrange(self, out):
        """``(batch, channels, bins, frames)`` in Keras' output layout."""
        channels, bins = out.type.shape[1], out.type.shape[2]
        if self.expand_dims:
            return th.transpose(out, (0, 3, 2, 1) if self.data_format == "channels_last" else (0, 1, 3, 2))
        flat = th.reshape(out, (out.shape[0], channels * bins, out.shape[3]))
        return th.transpose(flat, (0, 2, 1)) if self.data_format == "channels_last" else flat

    def compute_output_shape(self, input_shape):
        channels_last = self.data_format == "channels_last"
        channels, time = (input_shape[2], input_shape[1]) if channels_last else (input_shape[1], input_shape[2])
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        if time is None:
            frames = None
        elif self.padding == "valid":
            frames = (time - self.frame_length) // self._frame_step + 1
        else:
            frames = (time + self._frame_step - 1) // self._frame_step
        if self.expand_dims:
            return (input_shape[0], frames, bins, channels) if channels_last else (input_shape[0], channels, frames,
                                                                                   bins)
        return (input_shape[0], frames, channels * bins) if channels_last else (input_shape[0], channels * bins,
                                                                                frames)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": self.window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(frequencies):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + frequencies / _MEL_BREAK_FREQUENCY_HERTZ)


def mel_weight_matrix(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float, lower_edge_hertz: float,
                      upper_edge_hertz: float) -> np.ndarray:
    """Keras' ``linear_to_mel_weight_matrix`` (HTK mel scale, triangles peaking at 1, the DC bin zero):
    ``(num_spectrogram_bins, num_mel_bins)``."""
    linear = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
    bins_mel = _hertz_to_mel(linear)[:, None]
    edges = np.linspace(_hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    slopes = np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center))
    return np.pad(np.maximum(0.0, slopes), [(1, 0), (0, 0)])


@register_layer
class MelSpectrogram(Layer):
    """The mel spectrogram of ``(batch, time)`` (or ``(time,)``) signals, Keras' arguments and formulas
    (see the module docstring)."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True, top_db=80.0,
                 mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        for value, name in ((fft_length, "fft_length"), (sequence_stride, "sequence_stride"),
                            (num_mel_bins, "num_mel_bins")):
            positive_int(value, name)
        if not sampling_rate > 0:
            raise ValueError(f"MelSpectrogram: sampling_rate must be positive. Received: sampling_rate={sampling_rate}")
        self.fft_length, self.sequence_stride = fft_length, sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError(f"`fft_length` must be greater than or equal to `sequence_length`. Received: "
                             f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}.")
        super().__init__(**kwargs)
        self.window, self.sampling_rate, self.num_mel_bins = window, sampling_rate, num_mel_bins
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def __call__(self, inputs, *args, **kwargs):
        """One signal given as an array runs as a batch of one, so that its length is static (an eager
        call leaves the first axis dynamic)."""
        if not isinstance(inputs, Variable) and np.ndim(inputs) == 1:
            return super().__call__(np.asarray(inputs)[None], *args, **kwargs)[0]
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        if inputs.ndim not in (1, 2):
            raise ValueError(f"layer {self.name!r} (MelSpectrogram) expects signals (batch, time) or (time,). "
                             f"Received: input of type {inputs.type}")
        dtype = self.dtype if self.dtype in ("float32", "float64") else "float32"
        signals = th.cast(inputs, dtype) if inputs.dtype != dtype else inputs
        real, imag = stft(signals, self.sequence_length, self.sequence_stride, self.fft_length, window=self.window,
                          center=True)
        spectrum = th.pow(th.sqrt(th.sqr(real) + th.sqr(imag)), np.asarray(self.mag_exp, dtype))
        matrix = mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1, self.sampling_rate, self.min_freq,
                                   self.max_freq).astype(dtype)
        mel = th.tensordot(spectrum, matrix, axes=1)
        if self.power_to_db:
            mel = self._decibels(mel)
        out = th.swapaxes(mel, -1, -2)
        return th.cast(out, self.dtype) if out.dtype != self.dtype else out

    def _decibels(self, power):
        dtype = power.dtype
        ten_over_ln10 = np.asarray(10.0 / math.log(10.0), dtype)
        log_spec = th.log(th.maximum(power, np.asarray(self.min_power, dtype))) * ten_over_ln10
        log_spec = log_spec - np.asarray(10.0 * math.log10(max(abs(self.ref_power), self.min_power)), dtype)
        return th.maximum(log_spec, th.max(log_spec) - np.asarray(self.top_db, dtype))

    def compute_output_shape(self, input_shape):
        time = input_shape[-1]
        frames = None if time is None else 1 + time // self.sequence_stride  # centred frames
        return (self.num_mel_bins, frames) if len(input_shape) == 1 else (input_shape[0], self.num_mel_bins, frames)

    def get_config(self) -> dict:
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq, "power_to_db": self.power_to_db,
                "top_db": self.top_db, "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}

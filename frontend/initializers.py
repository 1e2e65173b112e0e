"""Weight initializers (``keras.initializers``): host-side NumPy arrays for new weights.

An initializer is called as ``init(shape, dtype)`` and returns a NumPy
array.  Random initializers take a ``seed``: a seeded initializer returns
the same array at every call (as Keras 3); an unseeded one draws a new
seed from ``seeding.next_seed()`` per call, so ``th.set_seed(n)`` makes a
whole model reproducible while its layers still differ.

Glorot, He and LeCun initializers are all one ``VarianceScaling`` with
different parameters.  Fans follow Keras: a kernel of shape
``(..., fan_in_channels, fan_out_channels)`` has a receptive field of
``prod(shape[:-2])`` (channels-last convolution kernels).  The truncated
normal cuts at two standard deviations (resampling the tails, here by the
inverse CDF) and divides the target stddev by 0.8796..., the stddev of a
standard normal truncated to ``[-2, 2]``, as Keras does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.special

from theanine.frontend import seeding
from theanine.frontend.initializer_base import Initializer
from theanine.frontend.initializer_base import shape_and_dtype as _shape_and_dtype
from theanine.frontend.registry import Registry
from theanine.frontend.stft_initializer import STFT, STFTInitializer, stft

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "Identity",
    "IdentityInitializer",
    "OrthogonalInitializer",
    "STFT",
    "STFTInitializer",
    "stft",
    "zeros",
    "ones",
    "constant",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "identity",
    "compute_fans",
    "get",
    "serialize",
    "deserialize",
]

_TRUNCATED_STDDEV = 0.87962566103423978
"""Stddev of a standard normal truncated to [-2, 2]."""


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _shape_and_dtype(shape, dtype)
        return np.zeros(shape, dtype)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _shape_and_dtype(shape, dtype)
        return np.ones(shape, dtype)


class Constant(Initializer):
    """Every entry equal to ``value``; an array ``value`` broadcasts to the shape, as Keras 3's
    ``value * ones(shape)`` does (``Embedding(embeddings_initializer=Constant(matrix))`` loads
    pretrained vectors)."""

    config_names = ("value",)

    def __init__(self, value=0.0):
        array = np.asarray(value, dtype=np.float64)
        self.value = float(array) if array.ndim == 0 else array

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _shape_and_dtype(shape, dtype)
        if isinstance(self.value, float):
            return np.full(shape, self.value, dtype)
        try:
            return np.broadcast_to(self.value, shape).astype(dtype)
        except ValueError:
            raise ValueError(f"Constant: a value of shape {self.value.shape} does not broadcast to the "
                             f"shape {tuple(shape)} asked for") from None

    def get_config(self) -> dict:
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


def _check_seed(seed) -> int | None:
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(f"seed must be None or a non-negative int. Received: seed={seed!r}")
    return None if seed is None else int(seed)


class RandomInitializer(Initializer):
    """Draws from a NumPy generator seeded by ``seed``, or else by ``seeding.next_seed()``."""

    config_names = ("seed",)

    def __init__(self, seed: int | None = None):
        self.seed = _check_seed(seed)

    def _generator(self) -> np.random.Generator:
        return np.random.default_rng(self.seed if self.seed is not None else seeding.next_seed())

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _shape_and_dtype(shape, dtype)
        return np.asarray(self._sample(self._generator(), shape), dtype=dtype)

    def _sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample()")


def _truncated_sample(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal samples restricted to ``mean +- 2 stddev`` (inverse-CDF sampling)."""
    low, high = scipy.special.ndtr(-2.0), scipy.special.ndtr(2.0)
    return mean + stddev * scipy.special.ndtri(rng.uniform(low, high, size=shape))


class RandomNormal(RandomInitializer):
    """Normal with ``mean`` and ``stddev`` (Keras defaults 0 and 0.05)."""

    config_names = ("mean", "stddev", "seed")

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def _sample(self, rng, shape):
        return rng.normal(self.mean, self.stddev, size=shape)


class TruncatedNormal(RandomNormal):
    """Normal with ``mean`` and ``stddev``, resampled beyond two standard deviations."""

    def _sample(self, rng, shape):
        return _truncated_sample(rng, shape, self.mean, self.stddev)


class RandomUniform(RandomInitializer):
    """Uniform on ``[minval, maxval)`` (Keras defaults -0.05 and 0.05)."""

    config_names = ("minval", "maxval", "seed")

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def _sample(self, rng, shape):
        return rng.uniform(self.minval, self.maxval, size=shape)


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' ``(fan_in, fan_out)``: kernels are ``(*receptive_field, in, out)``."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Samples with variance ``scale / n``, ``n`` the fan in, fan out or their average."""

    config_names = ("scale", "mode", "distribution", "seed")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"VarianceScaling expects a positive scale. Received: scale={scale!r}")
        if mode not in _MODES:
            raise ValueError(f"VarianceScaling expects mode in {_MODES}. Received: mode={mode!r}")
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling expects distribution in {_DISTRIBUTIONS}. "
                f"Received: distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _variance(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def _sample(self, rng, shape):
        variance = self._variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return _truncated_sample(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STDDEV)


class _VarianceScalingPreset(VarianceScaling):
    """A ``VarianceScaling`` whose ``(scale, mode, distribution)`` is fixed by the subclass."""

    config_names = ("seed",)
    preset: tuple[float, str, str]

    def __init__(self, seed: int | None = None):
        super().__init__(*self.preset, seed=seed)


class GlorotUniform(_VarianceScalingPreset):
    """Uniform within ``sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010); Keras' default."""

    preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_VarianceScalingPreset):
    """Truncated normal with variance ``2 / (fan_in + fan_out)``."""

    preset = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_VarianceScalingPreset):
    """Truncated normal with variance ``2 / fan_in`` (He et al., 2015), for ReLU networks."""

    preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_VarianceScalingPreset):
    """Uniform within ``sqrt(6 / fan_in)``."""

    preset = (2.0, "fan_in", "uniform")


class LecunNormal(_VarianceScalingPreset):
    """Truncated normal with variance ``1 / fan_in``, for SELU networks."""

    preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_VarianceScalingPreset):
    """Uniform within ``sqrt(3 / fan_in)``."""

    preset = (1.0, "fan_in", "uniform")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (QR of a Gaussian, signs fixed by R's diagonal) times ``gain``.

    Shapes of rank > 2 are flattened to ``(prod(shape[:-1]), shape[-1])``.
    """

    config_names = ("gain", "seed")

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = float(gain)

    def _sample(self, rng, shape):
        if len(shape) < 2:
            raise ValueError(
                f"The Orthogonal initializer needs a shape of rank >= 2. Received: shape={shape}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))
        q = q.T if rows < cols else q
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    config_names = ("gain",)

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _shape_and_dtype(shape, dtype)
        if len(shape) != 2:
            raise ValueError(f"The Identity initializer needs a 2-D shape. Received: shape={shape}")
        return self.gain * np.eye(*shape, dtype=dtype)


_CLASSES = (
    Zeros,
    Ones,
    Constant,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    GlorotUniform,
    GlorotNormal,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    Identity,
    STFT,
)
_ALIASES = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "STFTInitializer": STFT,
    "stft": STFT,
    "uniform": RandomUniform,  # Keras' short aliases, used in its guides (initializer="uniform")
    "normal": RandomNormal,
    "zero": Zeros,
    "one": Ones,
}
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal
zeros, ones, constant, identity, orthogonal = Zeros, Ones, Constant, Identity, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform, glorot_normal, he_normal, he_uniform = GlorotUniform, GlorotNormal, HeNormal, HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform
"""Keras' snake_case names of the classes (``keras.initializers.glorot_uniform`` is the class)."""

REGISTRY = Registry("initializer", Initializer, {**{cls.__name__: cls for cls in _CLASSES}, **_ALIASES})
"""Initializer classes by class name and by Keras' snake_case alias."""


def serialize(initializer: Initializer | None) -> dict | None:
    """``{"class_name": ..., "config": ...}``, as ``deserialize`` reads it (None stays None)."""
    return REGISTRY.serialize(initializer)


def deserialize(config: Mapping, custom_objects: Mapping[str, type] | None = None) -> Initializer:
    """An initializer from ``{"class_name": ..., "config": ...}``."""
    return REGISTRY.deserialize(config, custom_objects)


def get(identifier, custom_objects: Mapping[str, type] | None = None) -> Initializer | None:
    """An initializer from a name, a dict, an instance, a class or a callable (None stays None)."""
    return REGISTRY.get(identifier, custom_objects)

"""Keras 3's batch-mixing and policy image layers: MixUp, CutMix, RandAugment, AugMix, and the
structural MaxNumBoundingBoxes and Pipeline.

MixUp and CutMix mix each image of a batch with another of the same batch
(a random permutation) and mix the labels in the same proportion; they take
a dict ``{"images", "labels", "segmentation_masks"}`` (any present) as Keras
does, or images alone.  A dict call runs as a call on the list of its
values (``DictCall``), so it works eagerly, on symbolic tensors and in a
functional model.  Like the other random layers they change their inputs in
training only (a call with ``training=True``, or ``fit``); Keras' default
``training=True`` for a direct call is not followed, as everywhere in
theanine.  RandAugment and AugMix apply Keras' sub-layers, chosen by draws
made in the graph (so each call draws afresh), with Keras' factors.
Bounding boxes are supported by MaxNumBoundingBoxes only.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend.layers import gamma_sampling
from theanine.frontend.layers.augmentation import RandomRotation
from theanine.frontend.layers.augmentation_color import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomPosterization,
    RandomSharpness,
)
from theanine.frontend.layers.augmentation_more import (
    INTERPOLATIONS,
    RandomBrightness,
    RandomContrast,
    RandomShear,
    RandomTranslation,
    Solarization,
    _as_config,
    _choice,
    _is_number,
    _RandomImageLayer,
    factor_range,
    value_range_pair,
)
from theanine.frontend.layers.base import Layer, deserialize_layer, register_layer, serialize_layer
from theanine.frontend.layers.conv_arguments import standard_data_format
from theanine.frontend.layers.image_dicts import ImagesDict
from theanine.frontend.layers.seeded import SeededLayer

__all__ = ["MixUp", "CutMix", "RandAugment", "AugMix", "MaxNumBoundingBoxes", "Pipeline"]

_KEYS = ("images", "labels", "segmentation_masks")


class DictCall:
    """A layer called on a dict of ``_KEYS`` runs as a call on the list of its values, with their
    names in ``keys=`` (a string, so models record and eager calls cache it); its ``call`` gets the list
    and returns one output per name, put back in a dict."""

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, dict):
            return super().__call__(inputs, *args, **kwargs)
        unknown = set(inputs) - set(_KEYS)
        if unknown or "images" not in inputs:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes images or a dict with 'images' "
                             f"and optionally {list(_KEYS[1:])}. Received keys: {sorted(inputs)}")
        keys = [k for k in _KEYS if k in inputs]
        outputs = super().__call__([inputs[k] for k in keys], *args, keys=",".join(keys), **kwargs)
        return dict(zip(keys, outputs, strict=True))


class _MixLayer(DictCall, SeededLayer):
    """Shared by MixUp and CutMix: a batch of images (rank 4, ``data_format``) and its labels."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.data_format = standard_data_format(data_format)

    def call(self, inputs, training=None, keys=None):
        names = keys.split(",") if keys else ["images"]
        values = dict(zip(names, inputs if keys else [inputs], strict=True))
        images = values["images"]
        if images.ndim not in (3, 4):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects images (batch, height, width, "
                             f"channels) or one image. Received: images of type {images.type}")
        if training and images.ndim == 4:
            values = self.mix(values)
        outputs = [values[name] for name in names]
        return outputs if keys else outputs[0]

    def _float(self, x):
        return x if x.dtype.startswith("float") else th.cast(x, self.dtype)

    def _permutation(self, images):
        """A random permutation of the batch (argsort of uniform draws: the batch may be dynamic)."""
        return th.argsort(self.stream.uniform(size=(th.shape(images)[0],), dtype="float32"))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


def _mix(weight, first, second):
    """``w * first + (1 - w) * second``, ``weight`` (batch,) broadcast over the other axes."""
    w = th.reshape(th.cast(weight, first.dtype), (-1,) + (1,) * (first.ndim - 1))
    return w * first + (1.0 - w) * second


@register_layer
class MixUp(_MixLayer):
    """Replace image ``i`` (and its labels and masks) by ``w x_i + (1 - w) x_p(i)``, ``p`` a random
    permutation of the batch and ``w ~ Beta(alpha, alpha)`` per image."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        if not _is_number(alpha) or alpha <= 0:
            raise ValueError(f"MixUp: alpha must be a positive number. Received: alpha={alpha!r}")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = float(alpha)

    def mix(self, values):
        images = self._float(values["images"])
        order = self._permutation(images)
        weight = gamma_sampling.beta(self.stream, self.alpha, self.alpha, (th.shape(images)[0],), images.dtype)
        return {name: _mix(weight, self._float(x), th.take(self._float(x), order, axis=0))
                for name, x in values.items()}

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


@register_layer
class CutMix(_MixLayer):
    """Paste a box of image ``p(i)`` (``p`` a random permutation) into image ``i``: ``alpha`` is drawn in
    ``factor`` (a number ``f`` in [0, 1]: ``(0, f)``) plus 1e-6, ``w ~ Beta(alpha, alpha)`` per image; the
    box has sides ``sqrt(1 - w)`` times the image's, its corner uniform over the positions that fit, and
    covers the pixels with ``x0 <= x < x1``, ``y0 <= y < y1``.  Labels mix as
    ``l_i * (1 - a) + l_p(i) * a``, ``a`` the box's area over the image's; masks are pasted as images."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.factor = _as_config(factor)

    def mix(self, values):
        images = self._float(values["images"])
        height_axis, width_axis = (2, 3) if self.data_format == "channels_first" else (1, 2)
        height, width = images.type.shape[height_axis], images.type.shape[width_axis]
        if height is None or width is None:
            raise ValueError(f"layer {self.name!r} (CutMix) needs a static image height and width. "
                             f"Received: images of type {images.type}")
        dtype, batch = images.dtype, (th.shape(images)[0],)
        alpha = self.stream.uniform(low=self.lower, high=self.upper, dtype=dtype) + 1e-6
        ratio = th.sqrt(1.0 - gamma_sampling.beta(self.stream, alpha, alpha, batch, dtype))
        x0, x1 = self._bounds(width, ratio, batch, dtype)
        y0, y1 = self._bounds(height, ratio, batch, dtype)
        order = self._permutation(images)
        grid = (1, height, width, 1) if self.data_format == "channels_last" else (1, 1, height, width)
        ys = np.arange(height, dtype=dtype)[:, None] + np.zeros((1, width), dtype)
        xs = np.arange(width, dtype=dtype)[None, :] + np.zeros((height, 1), dtype)
        ys, xs = ys.reshape(grid), xs.reshape(grid)
        corner = (-1, 1, 1, 1)
        inside = th.logical_and(
            th.logical_and(th.ge(xs, th.reshape(x0, corner)), th.lt(xs, th.reshape(x1, corner))),
            th.logical_and(th.ge(ys, th.reshape(y0, corner)), th.lt(ys, th.reshape(y1, corner))))
        area = (x1 - x0) * (y1 - y0) / np.asarray(height * width, dtype)
        out = {}
        for name, x in values.items():
            other = th.take(x, order, axis=0)
            if name == "labels":
                out[name] = _mix(1.0 - area, self._float(x), self._float(other))
            else:
                out[name] = th.where(inside, other, x)
        return out

    def _bounds(self, length: int, ratio, batch, dtype):
        crop = ratio * float(length)
        start = self.stream.uniform(size=batch, dtype=dtype) * (float(length) - crop)
        return start, start + crop

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


# ----------------------------------------------------------------------------- policies


def _apply(layer, images):
    """A sub-layer's transformation of a channels-last float batch (as in training)."""
    if isinstance(layer, RandomRotation):
        return layer._augment(images)
    return layer.transform(images, True)


def _select(index, candidates, images):
    """``candidates[index](images)`` for a scalar int tensor ``index`` (the images when none matches)."""
    out = images
    for i, transform in enumerate(candidates):
        out = th.where(th.eq(index, i), transform(images), out)
    return out


class _PolicyLayer(_RandomImageLayer):
    """RandAugment and AugMix: Keras' sub-layers with a shared ``factor`` (in [0, 1]; a number ``f``:
    ``(0, f)``), ``value_range`` and ``interpolation``; the layers are built channels last, the policy
    layer itself handles ``data_format``."""

    GEOMETRIC = ("random_shear", "random_translation", "random_rotation")

    def __init__(self, value_range=(0, 255), factor=0.5, interpolation="bilinear", seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range_pair(value_range)
        self.lower, self.upper = factor_range(factor, "factor", (0.0, 1.0))
        self.factor = _as_config(factor)
        self.interpolation = _choice(interpolation, INTERPOLATIONS, "interpolation", type(self).__name__)

    def _make(self, name: str, index: int):
        pair, colour = [self.lower, self.upper], {"value_range": self.value_range, "data_format": "channels_last"}
        seed = {"seed": self.seed + 1 + index, "dtype": self.dtype}
        geometric = {"interpolation": self.interpolation, **seed}
        makers = {
            "random_shear": lambda: RandomShear(x_factor=pair, y_factor=pair, data_format="channels_last",
                                                **geometric),
            "random_translation": lambda: RandomTranslation(pair, pair, data_format="channels_last", **geometric),
            "random_rotation": lambda: RandomRotation(pair, **geometric),
            "random_brightness": lambda: RandomBrightness(pair, **colour, **seed),
            "random_color_degeneration": lambda: RandomColorDegeneration(pair, **colour, **seed),
            "random_contrast": lambda: RandomContrast(pair, **colour, **seed),
            "random_sharpness": lambda: RandomSharpness(pair, **colour, **seed),
            "random_posterization": lambda: RandomPosterization(max(1, int(8 * self.upper)), **colour, **seed),
            "solarization": lambda: Solarization(pair, pair, **colour, **seed),
            "auto_contrast": lambda: AutoContrast(**colour, dtype=self.dtype),
            "equalization": lambda: Equalization(**colour, dtype=self.dtype),
        }
        return makers[name]()

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": list(self.value_range), "factor": self.factor,
                "interpolation": self.interpolation}


_RAND_AUGMENT = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                 "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                 "solarization", "auto_contrast", "equalization")


@register_layer
class RandAugment(ImagesDict, _PolicyLayer):
    """``num_ops`` times, one of Keras' eleven augmentations (shear, translation, rotation, brightness,
    colour degeneration, contrast, sharpness, posterization, solarization, auto contrast, equalization),
    drawn uniformly for the whole batch, is applied to it."""

    geometric = True  # masks and boxes would have to move with the pixels

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        if isinstance(num_ops, bool) or not isinstance(num_ops, (int, np.integer)) or num_ops < 0:
            raise ValueError(f"RandAugment: num_ops must be a non-negative integer. Received: num_ops={num_ops!r}")
        super().__init__(value_range, factor, interpolation, seed, data_format, **kwargs)
        self.num_ops = int(num_ops)
        self.augmentations = [self._make(name, i) for i, name in enumerate(_RAND_AUGMENT)]

    def transform(self, images, training: bool):
        choices = self.stream.integers(0, len(self.augmentations), size=(self.num_ops,))
        candidates = [lambda x, layer=layer: _apply(layer, x) for layer in self.augmentations]
        for i in range(self.num_ops):
            images = _select(choices[i], candidates, images)
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "num_ops": self.num_ops}


_AUGMIX_ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
               "auto_contrast", "equalization", "random_brightness", "random_color_degeneration",
               "random_contrast", "random_sharpness")


@register_layer
class AugMix(ImagesDict, _PolicyLayer):
    """``num_chains`` chains of up to ``chain_depth`` augmentations (each step one of Keras' list or none,
    drawn uniformly for the batch) mixed with Dirichlet(``alpha``) weights, then
    ``m x + (1 - m) mix`` with ``m ~ Beta(alpha, alpha)``, clipped to ``value_range``.  ``all_ops=False``
    leaves out brightness, colour degeneration, contrast and sharpness (Keras' list)."""

    geometric = True  # masks and boxes would have to move with the pixels

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        for name, value in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"AugMix: {name} must be a positive integer. Received: {name}={value!r}")
        if not _is_number(alpha) or alpha <= 0:
            raise ValueError(f"AugMix: alpha must be a positive number. Received: alpha={alpha!r}")
        super().__init__(value_range, factor, interpolation, seed, data_format, **kwargs)
        self.num_chains, self.chain_depth = int(num_chains), int(chain_depth)
        self.alpha, self.all_ops = float(alpha), bool(all_ops)
        names = _AUGMIX_ALL if self.all_ops else _AUGMIX_ALL[:7]
        self.augmentations = [self._make(name, i) for i, name in enumerate(names)]

    def transform(self, images, training: bool):
        dtype = images.dtype
        weights = gamma_sampling.dirichlet(self.stream, self.alpha, self.num_chains, dtype)
        keep = gamma_sampling.beta(self.stream, self.alpha, self.alpha, (), dtype)
        steps = self.stream.integers(0, len(self.augmentations) + 1, size=(self.num_chains, self.chain_depth))
        candidates = [lambda x, layer=layer: _apply(layer, x) for layer in self.augmentations]
        mixed = None
        for chain in range(self.num_chains):
            chained = images
            for depth in range(self.chain_depth):
                chained = _select(steps[chain, depth], candidates, chained)
            term = chained * weights[chain]
            mixed = term if mixed is None else mixed + term
        low, high = (np.asarray(v, dtype) for v in self.value_range)
        return th.clip(keep * images + (1.0 - keep) * mixed, low, high)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "alpha": self.alpha, "all_ops": self.all_ops}


# ----------------------------------------------------------------------------- structure


@register_layer
class MaxNumBoundingBoxes(Layer):
    """Pad (with ``fill_value``) or truncate the boxes ``(batch, n, 4)`` and their labels ``(batch, n)``
    of ``{"images", "bounding_boxes": {"boxes", "labels"}}`` to ``max_number``; images pass unchanged."""

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_number, bool) or not _is_number(max_number) or int(max_number) < 1:
            raise ValueError(f"MaxNumBoundingBoxes: max_number must be a positive integer. "
                             f"Received: max_number={max_number!r}")
        self.max_number, self.fill_value = int(max_number), int(fill_value)

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, dict):
            return super().__call__(inputs, *args, **kwargs)
        boxes = inputs.get("bounding_boxes")
        if not isinstance(boxes, dict) or set(boxes) != {"boxes", "labels"}:
            raise ValueError(f"layer {self.name!r} (MaxNumBoundingBoxes) expects 'bounding_boxes' as a dict with "
                             f"'boxes' and 'labels' only. Received: {boxes if boxes is None else sorted(boxes)}")
        rest = [k for k in inputs if k != "bounding_boxes"]
        out = super().__call__([boxes["boxes"], boxes["labels"], *[inputs[k] for k in rest]], *args, **kwargs)
        return {**dict(zip(rest, out[2:], strict=True)), "bounding_boxes": {"boxes": out[0], "labels": out[1]}}

    def call(self, inputs):
        if not isinstance(inputs, list):
            return inputs
        boxes, labels, *rest = inputs
        return [self._fit(boxes), self._fit(labels), *rest]

    def _fit(self, x):
        count = x.type.shape[1]
        if count is None:
            raise ValueError(f"layer {self.name!r} (MaxNumBoundingBoxes) needs a static number of boxes. "
                             f"Received: {x.type}")
        x = x[:, :self.max_number]
        if count >= self.max_number:
            return x
        fill = th.cast(th.ones((th.shape(x)[0], self.max_number - count, *x.type.shape[2:]), "int64")
                       * self.fill_value, x.dtype)
        return th.concatenate([x, fill], axis=1)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list):
            return input_shape
        boxes, labels, *rest = input_shape
        return [(boxes[0], self.max_number, *boxes[2:]), (labels[0], self.max_number, *labels[2:]), *rest]

    def get_config(self) -> dict:
        return {**super().get_config(), "max_number": self.max_number, "fill_value": self.fill_value}


@register_layer
class Pipeline(Layer):
    """Apply ``layers`` one after the other (Keras' Pipeline: a layer, not a model), passing
    ``training`` to each; a dict input goes through each layer's own dict handling."""

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"Pipeline: layers must be a list of layers. Received: layers={layers!r}")
        self.pipeline_layers = list(layers)

    @property
    def layers(self) -> list:
        return list(self.pipeline_layers)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            for layer in self.pipeline_layers:
                inputs = layer(inputs, *args, **kwargs)
            return inputs
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        for layer in self.pipeline_layers:
            inputs = layer(inputs, training=training) if layer._call_accepts_training else layer(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        for layer in self.pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "layers": [serialize_layer(layer) for layer in self.pipeline_layers]}

    @classmethod
    def from_config(cls, config: dict) -> Pipeline:
        config = dict(config)
        if not isinstance(config.get("layers"), (list, tuple)):
            raise ValueError("`Pipeline` config must contain a `layers` key mapping to a list of serialized "
                             f"layers. Received config with layers={config.get('layers')!r}")
        config["layers"] = [deserialize_layer(spec) for spec in config["layers"]]
        return cls(**config)

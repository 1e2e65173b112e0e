"""Keras' dict inputs for image layers that change only the images:
``layer({"images": x, "labels": y, ...})`` returns the dict with the images transformed.

Labels pass unchanged, as Keras' ``transform_labels`` of these layers
leaves them.  Colour layers (``geometric = False``) leave segmentation masks
and bounding boxes unchanged too, as Keras does; geometric ones would have
to move them with the images, which is not supported here, so a dict with
masks or boxes is refused with a clear error.
"""

from __future__ import annotations

__all__ = ["ImagesDict"]

KEYS = ("images", "labels", "segmentation_masks", "bounding_boxes")


class ImagesDict:
    """Mixin (before the layer's base class): a dict call transforms ``inputs["images"]``."""

    geometric = False

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, dict):
            return super().__call__(inputs, *args, **kwargs)
        unknown = set(inputs) - set(KEYS)
        if unknown or "images" not in inputs:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes images or a dict with 'images' and "
                             f"optionally {list(KEYS[1:])}. Received keys: {sorted(inputs)}")
        moved = sorted({"segmentation_masks", "bounding_boxes"} & set(inputs))
        if self.geometric and moved:
            raise NotImplementedError(f"layer {self.name!r} ({type(self).__name__}) moves pixels, and does not "
                                      f"transform {moved} with them; pass images and labels only")
        return {**inputs, "images": super().__call__(inputs["images"], *args, **kwargs)}

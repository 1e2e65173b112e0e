"""Keras' ``keras.utils``: ``to_categorical``, ``pad_sequences``, ``PyDataset`` (also ``Sequence``),
the serialization registry and ``plot_model``/``model_to_dot`` (``plotting.py``); the data helpers
(``utils_data.py``), the image file helpers (``image_utils.py``), ``Progbar``, ``Config``
(``attribute_config.py``) and the ``keras.config``/``keras.backend`` names Keras repeats here.

``PyDataset`` (``py_dataset.py``) is the base class of indexable batch
sources that fit, evaluate and predict accept in place of arrays.
"""

from __future__ import annotations

import numpy as np

from theanine.frontend import bounding_boxes
from theanine.frontend.attribute_config import Config
from theanine.frontend.backend import clear_session, is_keras_tensor, standardize_dtype
from theanine.frontend.config import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from theanine.frontend.directory_datasets import (
    audio_dataset_from_directory,
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from theanine.frontend.feature_space import FeatureSpace
from theanine.frontend.file_fetch import get_file
from theanine.frontend.image_utils import array_to_img, img_to_array, load_img, save_img
from theanine.frontend.plotting import model_to_dot, plot_model
from theanine.frontend.progbar import Progbar
from theanine.frontend.py_dataset import PyDataset
from theanine.frontend.registry import (
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_serializable,
)
from theanine.frontend.saving import (
    CustomObjectScope,
    deserialize_keras_object,
    serialize_keras_object,
)
from theanine.frontend.utils_data import (
    normalize,
    pack_x_y_sample_weight,
    split_dataset,
    timeseries_dataset_from_array,
    unpack_x_y_sample_weight,
)

__all__ = [
    "Sequence",
    "Progbar",
    "Config",
    "bounding_boxes",
    "FeatureSpace",
    "split_dataset",
    "get_file",
    "image_dataset_from_directory",
    "audio_dataset_from_directory",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "pack_x_y_sample_weight",
    "unpack_x_y_sample_weight",
    "normalize",
    "img_to_array",
    "array_to_img",
    "load_img",
    "save_img",
    "serialize_keras_object",
    "deserialize_keras_object",
    "CustomObjectScope",
    "get_registered_name",
    "get_registered_object",
    "clear_session",
    "is_keras_tensor",
    "get_source_inputs",
    "standardize_dtype",
    "enable_interactive_logging",
    "disable_interactive_logging",
    "is_interactive_logging_enabled",
    "set_random_seed",
    "to_categorical",
    "pad_sequences",
    "PyDataset",
    "register_keras_serializable",
    "custom_object_scope",
    "get_custom_objects",
    "model_to_dot",
    "plot_model",
]

register_keras_serializable = register_serializable
"""Keras' name for ``registry.register_serializable``."""


def set_random_seed(seed: int) -> None:
    """Keras' ``utils.set_random_seed``: seed Python's ``random``, NumPy's global generator and
    theanine's default stream (``th.set_seed``: weight initializers, shuffling, Dropout), so a
    script that builds and trains a model gives the same numbers on every run."""
    import random

    import theanine as th

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed: seed must be an int. Received: {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    th.set_seed(int(seed))


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows (float64, as Keras' NumPy path) for integer labels; the class axis is last.

    A trailing axis of size 1 is dropped first (labels of shape ``(n, 1)``
    give ``(n, num_classes)``); ``num_classes`` defaults to ``max(x) + 1``.
    """
    labels = np.asarray(x)
    if labels.dtype.kind not in "iub" and not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"to_categorical needs integer class labels. Received: x={x!r}")
    labels = labels.astype("int64")
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(
            f"to_categorical needs labels in [0, {num_classes}). Received labels from "
            f"{flat.min()} to {flat.max()} with num_classes={num_classes}"
        )
    categorical = np.zeros((flat.size, num_classes))
    categorical[np.arange(flat.size), flat] = 1.0
    return categorical.reshape((*shape, num_classes))


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Sequences of different lengths as one ``(samples, maxlen, *item_shape)`` array, as Keras'.

    Longer sequences lose their start (``truncating="pre"``) or end ("post"); shorter ones are
    filled with ``value`` before (``padding="pre"``) or after ("post"); ``maxlen`` defaults to
    the longest length.  Id 0 as padding suits ``Embedding(mask_zero=True)``.
    """
    for option, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {option} must be 'pre' or 'post'. Received: {option}={given!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences. Received: {sequences!r}")
    items = []
    for index, sequence in enumerate(sequences):
        if not hasattr(sequence, "__len__"):
            raise ValueError(f"pad_sequences: sequence {index} is not a sequence. Received: {sequence!r}")
        items.append(np.asarray(sequence, dtype=dtype) if len(sequence) else None)
    item_shape = next((item.shape[1:] for item in items if item is not None), ())
    if maxlen is None:
        maxlen = max((0 if item is None else len(item) for item in items), default=0)
    padded = np.full((len(items), int(maxlen), *item_shape), value, dtype=dtype)
    for index, item in enumerate(items):
        if item is None or maxlen == 0:
            continue
        if item.shape[1:] != item_shape:
            raise ValueError(f"pad_sequences: the items of sequence {index} have shape {item.shape[1:]}, those of "
                             f"the first non-empty sequence {item_shape}")
        kept = item[-maxlen:] if truncating == "pre" else item[:maxlen]
        if padding == "post":
            padded[index, :len(kept)] = kept
        else:
            padded[index, maxlen - len(kept):] = kept
    return padded


Sequence = PyDataset
"""Keras 2's name for ``PyDataset``, kept by Keras 3."""


def get_source_inputs(tensor) -> list:
    """The graph inputs ``tensor`` is computed from (not constants nor weights), in graph order."""
    from theanine.graph.basic import graph_inputs

    if not is_keras_tensor(tensor):
        return [tensor]
    return [v for v in graph_inputs([tensor]) if is_keras_tensor(v)]

"""Keras' ``image_dataset_from_directory`` and ``text_dataset_from_directory`` on local folders.

A folder with one subfolder per class (``labels="inferred"``; class order
alphabetical or ``class_names``), or explicit integer ``labels`` for the
files in ``os.walk`` order, or ``labels=None``.  Files are listed as Keras
lists them (sorted, then shuffled with ``seed``), split by
``validation_split``/``subset`` as Keras splits them (the last
``int(split * n)`` files validate; ``subset="both"`` returns both halves),
and read batch by batch: the result is a ``PyDataset`` (Keras returns a
``tf.data`` dataset, which theanine does not have) that ``fit``, ``evaluate``
and ``predict`` take, with Keras' ``class_names`` and ``file_paths``
attributes.  Labels follow ``label_mode``: "int" (int32), "categorical"
(one-hot float32), "binary" (float32 of shape ``(n, 1)``) or None.  Images
are read with Pillow (the ``image`` extra) and resized with its
``interpolation`` (Pillow's resampling, not TensorFlow's: values near edges
differ slightly); texts are read as UTF-8 strings, cut to ``max_length``
characters; WAV audio is read with SciPy as float32 ``(samples, channels)``
in [-1, 1] (``tf.audio.decode_wav``'s scaling), resampled to
``sampling_rate`` when given (polyphase filtering), and a batch is padded
with zeros to its longest clip or cut/padded to ``output_sequence_length``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from theanine.frontend.image_utils import img_to_array, load_img
from theanine.frontend.py_dataset import PyDataset

__all__ = ["image_dataset_from_directory", "text_dataset_from_directory", "audio_dataset_from_directory",
           "FileDataset"]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_FORMATS = (".txt",)
AUDIO_FORMATS = (".wav",)
_LABEL_MODES = ("int", "categorical", "binary", None)


def _files_under(folder: str, formats: tuple[str, ...], follow_links: bool) -> list[str]:
    """The files with an allowed extension below ``folder``, in Keras' (sorted walk) order."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs.sort()
        found += [os.path.join(root, name) for name in sorted(files) if name.lower().endswith(formats)]
    return found


def _index(directory, labels, formats, class_names, follow_links):
    """``(paths, labels or None, class_names or None)`` before shuffling."""
    if not os.path.isdir(directory):
        raise ValueError(f"the directory {directory!r} does not exist or is not a folder")
    if labels == "inferred":
        folders = sorted(d for d in os.listdir(directory)
                         if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
        if class_names is not None and not set(class_names) <= set(folders):
            raise ValueError(f"class_names {list(class_names)} must name subfolders of {directory!r}: {folders}")
        names = list(class_names) if class_names is not None else folders
        paths, found = [], []
        for index, name in enumerate(names):
            files = _files_under(os.path.join(directory, name), formats, follow_links)
            paths += files
            found += [index] * len(files)
        return paths, np.asarray(found, "int32"), names
    if class_names is not None:
        raise ValueError("class_names needs labels='inferred' (explicit labels name their classes themselves)")
    paths = _files_under(directory, formats, follow_links)
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for the {len(paths)} files found in {directory!r}")
    return paths, np.asarray(labels, "int32"), [str(label) for label in sorted(set(labels))]


def _check_split(validation_split, subset, shuffle, seed) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be between 0 and 1. Received: {validation_split}")
    if bool(validation_split) != bool(subset):
        raise ValueError("subset and validation_split go together: set both or neither")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset must be 'training', 'validation' or 'both'. Received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("with validation_split and shuffle, give a seed so that the training and validation "
                         "subsets do not overlap")


class FileDataset(PyDataset):
    """Batches of files read by ``read`` with their encoded labels (see the module docstring)."""

    def __init__(self, paths, labels, class_names, read, label_mode, batch_size, stack=np.stack):
        super().__init__()
        self.file_paths, self.labels, self.class_names = list(paths), labels, class_names
        self.read, self.label_mode, self.batch_size, self.stack = read, label_mode, batch_size, stack

    def __len__(self) -> int:
        return len(self.file_paths) if self.batch_size is None else math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__}: batch {index} of {len(self)}")
        if self.batch_size is None:  # unbatched, as Keras' batch_size=None
            window = slice(index, index + 1)
        else:
            window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        values = self.stack([self.read(path) for path in self.file_paths[window]])
        if self.labels is None or self.label_mode is None:
            return values[0] if self.batch_size is None else values
        labels = self._encoded(self.labels[window])
        return (values[0], labels[0]) if self.batch_size is None else (values, labels)

    def _encoded(self, labels: np.ndarray) -> np.ndarray:
        if self.label_mode == "categorical":
            return np.eye(len(self.class_names), dtype="float32")[labels]
        if self.label_mode == "binary":
            return labels.astype("float32")[:, None]
        return labels


def _datasets(directory, labels, label_mode, class_names, formats, read, batch_size, shuffle, seed,
              validation_split, subset, follow_links, verbose, stack=np.stack):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(f"labels must be 'inferred', None or a list of integer labels. Received: {labels!r}")
    if label_mode not in _LABEL_MODES:
        raise ValueError(f"label_mode must be one of {_LABEL_MODES}. Received: {label_mode!r}")
    label_mode = None if labels is None else label_mode
    _check_split(validation_split, subset, shuffle, seed)
    paths, found, names = _index(directory, labels, formats, class_names, follow_links)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes. Found {len(names)}: {names}")
    if verbose:
        print(f"Found {len(paths)} files" + ("." if names is None else f" belonging to {len(names)} classes."))
    if shuffle:
        order = np.arange(len(paths))
        np.random.RandomState(np.random.randint(10**6) if seed is None else seed).shuffle(order)
        paths = [paths[i] for i in order]
        found = None if found is None else found[order]
    if not paths:
        raise ValueError(f"no files with the extensions {formats} in {directory!r}")

    def subset_of(part):
        cut = int(validation_split * len(paths)) if validation_split else 0
        chosen = slice(None) if not cut else (slice(None, -cut) if part == "training" else slice(-cut, None))
        if cut and verbose:
            print(f"Using {len(paths[chosen])} files for {part}.")
        return FileDataset(paths[chosen], None if found is None else found[chosen], names, read, label_mode,
                           batch_size, stack)

    if subset == "both":
        return subset_of("training"), subset_of("validation")
    return subset_of(subset)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """Batches of ``(images, labels)``: float32 images of ``image_size`` (height, width)."""
    if pad_to_aspect_ratio:
        raise NotImplementedError("image_dataset_from_directory: pad_to_aspect_ratio is not supported; "
                                  "crop_to_aspect_ratio=True keeps the aspect ratio by cropping")
    height, width = image_size

    def read(path):
        image = load_img(path, color_mode=color_mode, target_size=(height, width), interpolation=interpolation,
                         keep_aspect_ratio=crop_to_aspect_ratio)
        return img_to_array(image, data_format=data_format, dtype="float32")

    return _datasets(directory, labels, label_mode, class_names, IMAGE_FORMATS, read, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """Batches of ``(texts, labels)``: each text a Python string (an array of dtype object)."""

    def read(path):
        with open(path, encoding="utf-8") as file:
            text = file.read()
        return np.asarray(text if max_length is None else text[:max_length], dtype=object)

    return _datasets(directory, labels, label_mode, class_names, TEXT_FORMATS, read, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose)


_PCM_SCALES = {np.dtype("int16"): 32768.0, np.dtype("int32"): 2.0**31}


def _read_wav(path, sampling_rate: int | None) -> np.ndarray:
    """A WAV file as float32 ``(samples, channels)`` in [-1, 1], resampled to ``sampling_rate``."""
    import scipy.io.wavfile
    import scipy.signal

    rate, audio = scipy.io.wavfile.read(path)
    if audio.dtype == np.uint8:
        audio = (audio.astype("float32") - 128.0) / 128.0
    elif audio.dtype in _PCM_SCALES:
        audio = audio.astype("float32") / _PCM_SCALES[audio.dtype]
    audio = audio.astype("float32").reshape(len(audio), -1)
    if sampling_rate is not None and sampling_rate != rate:
        audio = scipy.signal.resample_poly(audio, sampling_rate, rate, axis=0).astype("float32")
    return audio


def _padded(length: int | None):
    """Stack clips into ``(batch, length, channels)``: zero-padded to ``length`` or the longest, cut at
    ``length``."""

    def stack(clips: list[np.ndarray]) -> np.ndarray:
        longest = length if length is not None else max(len(clip) for clip in clips)
        out = np.zeros((len(clips), longest, clips[0].shape[1]), "float32")
        for index, clip in enumerate(clips):
            out[index, :min(len(clip), longest)] = clip[:longest]
        return out

    return stack


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                 sampling_rate=None, output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None, follow_links=False, verbose=True):
    """Batches of ``(audio, labels)``: float32 ``(batch, samples, channels)`` from WAV files."""
    if ragged:
        raise NotImplementedError("audio_dataset_from_directory: ragged batches need tf.RaggedTensor; batches "
                                  "are padded to their longest clip (or output_sequence_length) instead")
    if sampling_rate is not None and (isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int)
                                      or sampling_rate <= 0):
        raise ValueError(f"sampling_rate must be a positive int. Received: sampling_rate={sampling_rate!r}")
    stack = _padded(output_sequence_length)
    return _datasets(directory, labels, label_mode, class_names, AUDIO_FORMATS,
                     lambda path: _read_wav(path, sampling_rate), batch_size, shuffle, seed, validation_split,
                     subset, follow_links, verbose, stack=stack)

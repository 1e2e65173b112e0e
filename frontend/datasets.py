"""Small data sets that ship inside the package (nothing is ever downloaded).

``datasets.digits.load_data()`` returns the 8x8 handwritten digits of
scikit-learn's ``load_digits`` (1,797 images, 10 classes), stored once as
``frontend/data/digits.npz`` (uint8 pixels 0..16 and uint8 labels).

``datasets.mnist.load_data(path="mnist.npz")`` reads Keras' own MNIST file
where Keras keeps it (``~/.keras/datasets/mnist.npz``, or ``path`` when it is
absolute) and returns it as Keras does (uint8 images 28x28, uint8 labels);
theanine does not download it: without the file it raises
``FileNotFoundError`` saying where to put it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["digits", "Digits", "mnist", "Mnist"]

_DIGITS_FILE = "digits.npz"


def _read_package_npz(filename: str) -> dict[str, np.ndarray]:
    """The arrays of ``frontend/data/<filename>``, read without pickle."""
    data = resources.files("theanine.frontend").joinpath("data", filename).read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _split_indices(count: int, test_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation cut into train and test indices.

    The indices stay in permuted order: the file is grouped by writer, so a
    sorted training set would make ``fit(validation_split=...)`` (which
    holds out the LAST samples) validate on a few writers only.
    """
    order = np.random.default_rng(seed).permutation(count)
    n_test = int(round(count * test_split))
    return order[n_test:], order[:n_test]


@dataclass(frozen=True)
class Digits:
    """The handwritten digits data set (8x8 grey images of 0..9)."""

    pixel_max: int = 16

    def load_data(self, test_split: float = 0.2, seed: int = 1337, flatten: bool = True):
        """``((x_train, y_train), (x_test, y_test))``, a deterministic split.

        Images are float32 scaled to [0, 1], shape (n, 64) when ``flatten``
        else (n, 8, 8); labels are int64 in 0..9.  The same ``seed`` and
        ``test_split`` always give the same split.
        """
        if not 0.0 <= test_split < 1.0:
            raise ValueError(f"test_split must be in [0, 1). Received: test_split={test_split!r}")
        arrays = _read_package_npz(_DIGITS_FILE)
        images = arrays["images"].astype("float32") / np.float32(self.pixel_max)
        if flatten:
            images = images.reshape(len(images), -1)
        labels = arrays["labels"].astype("int64")
        train, test = _split_indices(len(labels), test_split, seed)
        return (images[train], labels[train]), (images[test], labels[test])


digits = Digits()


KERAS_DATASETS = os.path.join("~", ".keras", "datasets")
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


@dataclass(frozen=True)
class Mnist:
    """Keras' MNIST file, read where Keras caches it (see the module docstring)."""

    def load_data(self, path: str = "mnist.npz"):
        """``((x_train, y_train), (x_test, y_test))`` from Keras' ``mnist.npz``, read without pickle."""
        full = os.path.expanduser(path if os.path.isabs(path) else os.path.join(KERAS_DATASETS, path))
        if not os.path.exists(full):
            raise FileNotFoundError(
                f"datasets.mnist: {full} does not exist; theanine downloads nothing. Put Keras' MNIST "
                f"file there (from {MNIST_URL}), or use the bundled datasets.digits"
            )
        with np.load(full, allow_pickle=False) as archive:
            return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])


mnist = Mnist()

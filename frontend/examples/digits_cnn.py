"""The convolutional digits model of ``python -m theanine`` (its default ``--model cnn``).

The 8x8 digits as ``(8, 8, 1)`` images:

    Conv2D(32, 3, same) - BatchNorm - ReLU - Conv2D(64, 3, same) - BatchNorm - ReLU
    - MaxPooling2D - Dropout(0.25) - Conv2D(64, 3, same) - BatchNorm - ReLU - MaxPooling2D
    - Flatten - Dense(128, relu) - Dropout(0.4) - Dense(10, softmax)

trained with Adam (learning rate 2e-3, cosine decay to 0 over the run) on
the whole training set, each image shifted by up to one pixel in each
direction, drawn anew every epoch (``ShiftedImages``).  With 359 test
images, 0.985 accuracy allows 5 errors.  Without the shifts (and with 10%
held out for early stopping) seeds 0-4 reached 0.986-0.994, two of them
with exactly 5 errors; with the shifts, 0.992-0.994.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from theanine.frontend import layers, models, optimizers, utils

__all__ = ["ShiftedImages", "build_digits_cnn", "LEARNING_RATE"]

LEARNING_RATE = 2e-3


class ShiftedImages(utils.PyDataset):
    """Shuffled batches of ``(images, labels)``; each epoch shifts every image by -1, 0 or +1 pixel
    along each spatial axis (the vacated border is zero), from a generator seeded with ``seed``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index: int):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.epoch_images[batch], self.epoch_labels[batch]

    def on_epoch_end(self) -> None:
        """Draw the next epoch's order and shifts."""
        n, height, width = self.images.shape[:3]
        order = self.rng.permutation(n)
        padded = np.pad(self.images[order], [(0, 0), (1, 1), (1, 1)] + [(0, 0)] * (self.images.ndim - 3))
        rows = self.rng.integers(0, 3, n)[:, None, None] + np.arange(height)[None, :, None]
        cols = self.rng.integers(0, 3, n)[:, None, None] + np.arange(width)[None, None, :]
        self.epoch_images = padded[np.arange(n)[:, None, None], rows, cols]
        self.epoch_labels = self.labels[order]


def _conv_block(filters: int) -> list:
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(),
            layers.Activation("relu")]


def build_digits_cnn(total_steps: int) -> models.Sequential:
    """The compiled model; the learning rate decays to 0 over ``total_steps`` steps."""
    model = models.Sequential(
        [
            layers.Input(shape=(8, 8, 1)),
            *_conv_block(32),
            *_conv_block(64),
            layers.MaxPooling2D(),
            layers.Dropout(0.25),
            *_conv_block(64),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=optimizers.Adam(optimizers.CosineDecay(LEARNING_RATE, total_steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m theanine.frontend.examples.digits_cnn [--quick]``: the main job's CNN, as
    ``python -m theanine --model cnn`` trains, evaluates and saves it."""
    from theanine.__main__ import main as main_job

    return main_job(["--model", "cnn", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""A functional model with two inputs and two outputs: ``python -m theanine.frontend.examples.multi_io``.

The 8x8 digit images that ship with the package are cut in two: the top
four rows and the bottom four rows are the model's two inputs, ``top`` and
``bottom``, each read by a branch of its own; the branches are
concatenated, and two heads answer two questions about the whole image:

- ``digit``: which digit it is (10-way softmax, sparse categorical
  crossentropy, accuracy);
- ``ink``: how much ink it holds, the mean pixel value in [0, 1] (linear
  unit, mean squared error, mean absolute error).

``compile`` takes one loss, one weight and one metric list per output,
keyed by the outputs' names; ``fit``/``evaluate`` take dicts keyed by the
inputs' and outputs' names; ``evaluate`` reports the total loss, each
output's loss and each output's metrics.
"""

from __future__ import annotations

import argparse

import numpy as np

import theanine as th
from theanine.frontend import datasets, layers, models, optimizers

__all__ = ["split_inputs", "targets", "build_model", "main"]

QUICK_EPOCHS = 2


def split_inputs(images: np.ndarray) -> dict[str, np.ndarray]:
    """Flattened 8x8 images -> ``{"top": rows 0-3, "bottom": rows 4-7}``, 32 pixels each."""
    return {"top": images[:, :32], "bottom": images[:, 32:]}


def targets(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """``{"digit": the labels, "ink": each image's mean pixel value, shape (n, 1)}``."""
    return {"digit": labels, "ink": images.mean(axis=1, keepdims=True)}


def _branch(inputs, name: str):
    return layers.Dense(32, activation="relu", name=f"{name}_features")(inputs)


def build_model(learning_rate: float = 2e-3) -> models.Model:
    """The two-input, two-output model, compiled with a loss, a weight and metrics per output."""
    top = layers.Input(shape=(32,), name="top")
    bottom = layers.Input(shape=(32,), name="bottom")
    merged = layers.Concatenate()([_branch(top, "top"), _branch(bottom, "bottom")])
    hidden = layers.Dense(64, activation="relu")(merged)
    digit = layers.Dense(10, activation="softmax", name="digit")(hidden)
    ink = layers.Dense(1, name="ink")(hidden)
    model = models.Model(inputs=[top, bottom], outputs=[digit, ink], name="two_halves")
    model.compile(
        optimizer=optimizers.Adam(learning_rate),
        loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
        loss_weights={"digit": 1.0, "ink": 10.0},
        metrics={"digit": ["accuracy"], "ink": ["mae"]},
    )
    return model


def main(epochs: int = 20, batch_size: int = 32, seed: int = 0, verbose: int = 2) -> dict:
    """Train, then return ``evaluate``'s results on the test images as a dict."""
    th.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data()
    model = build_model()
    if verbose:
        model.summary()
    model.fit(
        split_inputs(x_train),
        targets(x_train, y_train),
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        verbose=verbose,
    )
    results = model.evaluate(
        split_inputs(x_test), targets(x_test, y_test), verbose=0, return_dict=True
    )
    if verbose:
        print("test: " + "  ".join(f"{name} {value:.4f}" for name, value in results.items()))
        digit, ink = model.predict(split_inputs(x_test[:3]), verbose=0)
        for k in range(3):
            print(
                f"image {k}: digit {int(digit[k].argmax())} (true {int(y_test[k])}), "
                f"ink {float(ink[k, 0]):.3f} (true {float(x_test[k].mean()):.3f})"
            )
    return results


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="th.set_seed value")
    parser.add_argument("--quick", action="store_true", help=f"a few seconds' run: {QUICK_EPOCHS} epochs")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _parse_args()
    main(
        epochs=QUICK_EPOCHS if arguments.quick else arguments.epochs,
        batch_size=arguments.batch_size,
        seed=arguments.seed,
    )

"""Train a digits model and write what the browser page (``frontend/examples/web/``) loads.

    python -m theanine.frontend.examples.web_export --model cnn --output frontend/examples/web

writes ``digits.onnx`` (the model, exported with ``model.export(path, format="onnx")``)
and ``digits_test.json`` (the model's input shape and the first test images
with their labels, for the page's "pick a test image" buttons).  Then serve
the folder over HTTP (WebAssembly is not loaded from file:// URLs), e.g.
``python -m http.server -d frontend/examples/web``, after ``npm ci`` there.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence

import numpy as np

from theanine.frontend import datasets

MODEL_FILE, DATA_FILE = "digits.onnx", "digits_test.json"


def test_images(model_kind: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` test images, shaped for the model kind, and their labels."""
    (_, _), (x_test, y_test) = datasets.digits.load_data(flatten=model_kind == "mlp")
    images = x_test if model_kind == "mlp" else x_test[..., None]
    return images[:count].astype("float32"), y_test[:count]


def write_page_data(model, folder, images: np.ndarray, labels: np.ndarray) -> dict[str, str]:
    """Export ``model`` and the test images into ``folder``; returns the paths written."""
    os.makedirs(folder, exist_ok=True)
    model_path, data_path = os.path.join(folder, MODEL_FILE), os.path.join(folder, DATA_FILE)
    model.export(model_path, format="onnx")
    data = {
        "input_shape": list(images.shape[1:]),
        "images": [np.round(image.ravel().astype(float), 6).tolist() for image in images],
        "labels": [int(label) for label in labels],
    }
    with open(data_path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return {"model": model_path, "data": data_path}


def main(argv: Sequence[str] | None = None) -> int:
    from theanine.frontend.package.__main__ import TRAINERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(TRAINERS), default="cnn")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="one epoch: a run of a few seconds")
    parser.add_argument("--count", type=int, default=24, help="test images for the page (default 24)")
    parser.add_argument("--output", default=".", help="the folder to write to (default: the current one); "
                        "the page's folder is frontend/examples/web")
    args = parser.parse_args(argv)
    model, _, accuracy, _ = TRAINERS[args.model](1 if args.quick else args.epochs, 32, 2, 0)
    images, labels = test_images(args.model, args.count)
    written = write_page_data(model, args.output, images, labels)
    print(f"test accuracy {accuracy:.4f}; wrote {written['model']} and {written['data']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""GRU text classifier: theanine's epoch time next to Keras 3 on the JAX backend.

The same model (``Embedding(VOCAB, 64) -> GRU(64) -> Dense(1, sigmoid)``,
Keras 3's ``reset_after=True`` GRU), the same data (synthetic token
sequences whose label says whether a "positive" token outnumbers a
"negative" one), the same initial weights (drawn here in NumPy in Keras'
layout and loaded with ``set_weights``), the same optimizer (Adam 1e-3),
batch size and order (no shuffling).  Each framework runs in a fresh
process; the time fit spends before its first epoch, the first epoch
(tracing and compilation happen in one of the two, depending on the
framework) and the later ones, the steady epoch time, are printed.
theanine starts from an empty compilation cache (a new ``THEANINE_CACHE_DIR``),
as JAX does (no persistent cache), so the first figures include compiling.  ``--mask`` pads the sequences with id 0 and
uses ``Embedding(mask_zero=True)``, so the GRU holds its state at padded
steps.  ``--part`` times a piece of the model alone, to see where the time
goes: ``gru`` (float sequences, as an embedding would give, into the GRU
and the Dense) or ``embedding`` (Embedding, mean over time, Dense).  Keras
is optional: without it the Keras rows print "skipped: keras not
installed".

    python tests/benchmarks/bench_text.py [--mask] [--epochs 3] [--samples 2048] [--part gru]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

VOCAB, STEPS, EMBED, UNITS, BATCH = 2000, 50, 64, 64, 64
POSITIVE, NEGATIVE = 7, 11


def make_data(samples: int, mask: bool, seed: int = 0):
    """Token ids ``(samples, STEPS)`` (ids >= 1; trailing zeros when ``mask``) and 0/1 labels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (samples, STEPS))
    ids[rng.uniform(size=ids.shape) < 0.05] = POSITIVE
    ids[rng.uniform(size=ids.shape) < 0.05] = NEGATIVE
    if mask:
        lengths = rng.integers(STEPS // 4, STEPS + 1, samples)
        ids[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
    labels = ((ids == POSITIVE).sum(1) > (ids == NEGATIVE).sum(1)).astype("float32")
    return ids.astype("int32"), labels


def initial_weights(seed: int = 1) -> list[np.ndarray]:
    """Keras' initializers, drawn in NumPy: embedding U(-0.05, 0.05), Glorot-uniform kernels,
    an orthogonal recurrent kernel, zero biases; in Keras' weight order."""
    rng = np.random.default_rng(seed)

    def glorot(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))

    q, r = np.linalg.qr(rng.standard_normal((3 * UNITS, UNITS)))
    orthogonal = (q * np.sign(np.diag(r))).T
    weights = [rng.uniform(-0.05, 0.05, (VOCAB, EMBED)), glorot(EMBED, 3 * UNITS), orthogonal,
               np.zeros((2, 3 * UNITS)), glorot(UNITS, 1), np.zeros(1)]
    return [w.astype("float32") for w in weights]


def build(layers, models, mask: bool, part: str = "all"):
    """The classifier, or the piece ``part`` names (see the module docstring)."""
    if part == "gru":
        inputs = hidden = layers.Input((STEPS, EMBED))
    else:
        inputs = layers.Input((STEPS,), dtype="int32")
        hidden = layers.Embedding(VOCAB, EMBED, mask_zero=mask)(inputs)
    hidden = layers.GlobalAveragePooling1D()(hidden) if part == "embedding" else layers.GRU(UNITS)(hidden)
    return models.Model(inputs, layers.Dense(1, activation="sigmoid")(hidden))


def part_inputs(ids: np.ndarray, part: str) -> np.ndarray:
    """The model inputs for ``part``: the ids, or for ``gru`` their rows of a fixed random table."""
    if part != "gru":
        return ids
    table = np.random.default_rng(2).uniform(-0.05, 0.05, (VOCAB, EMBED)).astype("float32")
    return table[ids]


def part_weights(weights: list[np.ndarray], part: str) -> list[np.ndarray]:
    """``initial_weights`` cut to the layers ``part`` has."""
    if part == "gru":
        return weights[1:]
    if part == "embedding":
        dense = np.random.default_rng(3).uniform(-0.2, 0.2, (EMBED, 1)).astype("float32")
        return [weights[0], dense, weights[-1]]
    return weights


def run(framework: str, args, weights_path: str) -> dict:
    """Train in this process; epoch times in seconds, and the last epoch's loss and accuracy."""
    if framework == "keras":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras
        layers, models, optimizers, base = keras.layers, keras, keras.optimizers, keras.callbacks.Callback
    else:
        from theanine.frontend import callbacks, layers, models, optimizers
        base = callbacks.Callback

    class EpochTimer(base):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            if epoch == 0:
                self.before_first = self.start - fit_start

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    ids, labels = make_data(args.samples, args.mask)
    model = build(layers, models, args.mask, args.part)
    model.set_weights(part_weights(list(np.load(weights_path).values()), args.part))
    inputs = part_inputs(ids, args.part)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    fit_start = time.perf_counter()
    history = model.fit(inputs, labels, batch_size=BATCH, epochs=args.epochs, shuffle=False, verbose=0,
                        callbacks=[timer])
    return {"epochs": timer.times, "before_first": timer.before_first, "loss": float(history.history["loss"][-1]),
            "accuracy": float(history.history["accuracy"][-1])}


def keras_available() -> bool:
    """Whether keras and jax are importable (checked without importing either here)."""
    return all(importlib.util.find_spec(name) is not None for name in ("keras", "jax"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mask", action="store_true", help="padded sequences and Embedding(mask_zero=True)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--part", choices=("all", "gru", "embedding"), default="all",
                        help="time a piece of the model alone")
    parser.add_argument("--run", choices=("theanine", "keras"), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run, args, args.weights)))
        return
    steps = -(-args.samples // BATCH)
    print(f"GRU text classifier: {args.samples} sequences of {STEPS} tokens, vocabulary {VOCAB}, embedding {EMBED}, "
          f"GRU {UNITS}, batch {BATCH} ({steps} steps per epoch), mask_zero={args.mask}, float32, part={args.part}")
    with tempfile.TemporaryDirectory() as folder:
        weights_path = os.path.join(folder, "weights.npz")
        np.savez(weights_path, *initial_weights())
        results = {}
        for framework in ("theanine", "keras"):
            if framework == "keras" and not keras_available():
                print("Keras 3 + JAX: skipped: keras not installed")
                continue
            command = [sys.executable, __file__, "--run", framework, "--weights", weights_path,
                       "--epochs", str(args.epochs), "--samples", str(args.samples), "--part", args.part] + \
                (["--mask"] if args.mask else [])
            env = {**os.environ, "THEANINE_CACHE_DIR": os.path.join(folder, "theanine-cache")}
            done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
            if done.returncode != 0:
                print(f"{framework}: failed\n{done.stderr[-2000:]}")
                continue
            results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    for framework, result in results.items():
        first, rest = result["epochs"][0], result["epochs"][1:]
        steady = f"{np.median(rest):.2f} s" if rest else "n/a"
        label = "theanine (llvm)" if framework == "theanine" else "Keras 3 + JAX"
        print(f"{label:16s}: fit setup before epoch 1 {result['before_first']:.2f} s, first epoch {first:.2f} s, "
              f"later epochs (median) {steady}, "
              f"epochs {[round(t, 2) for t in result['epochs']]}, last loss {result['loss']:.4f}, "
              f"accuracy {result['accuracy']:.3f}")
    if len(results) == 2 and args.epochs > 1:
        ratio = np.median(results["theanine"]["epochs"][1:]) / np.median(results["keras"]["epochs"][1:])
        print(f"steady epoch time, theanine / Keras: {ratio:.2f}x")


if __name__ == "__main__":
    main()

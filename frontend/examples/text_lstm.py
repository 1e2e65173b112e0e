"""A character-level language model: ``python -m theanine.frontend.examples.text_lstm``.

The text is generated: sentences of a small grammar ("the red cat sees a
dog .", "a fox runs .", ...), one per line.  Each sentence becomes a row of
character ids padded with 0 at the end; the model reads the characters up
to position t and predicts character t + 1:

    Embedding(vocab, 16, mask_zero=True) -> LSTM(64, return_sequences=True)
    -> TimeDistributed(Dense(vocab, softmax))

The padding is masked: the LSTM holds its state over it and the loss
(sparse categorical crossentropy) averages over real characters only.
After training the example prints the masked next-character accuracy on
held-out sentences and a few sentences the model writes greedily from a
first letter.  ``--quick`` trains on a small set for a few epochs.
"""

from __future__ import annotations

import numpy as np

import theanine as th
from theanine.frontend import layers, models, optimizers
from theanine.frontend.examples import quick_and_seed

__all__ = ["generate_sentences", "encode", "build_model", "masked_accuracy", "complete", "main"]

DETERMINERS = ("the", "a")
ADJECTIVES = ("red", "big", "old", "shy", "")
NOUNS = ("cat", "dog", "fox", "owl", "bee")
VERBS = ("sees", "likes", "runs", "sleeps", "eats")
TRANSITIVE = ("sees", "likes", "eats")
END = "."


def generate_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` sentences of the grammar: det [adj] noun verb [det [adj] noun] ."""
    rng = np.random.default_rng(seed)

    def noun_phrase() -> list[str]:
        words = [str(rng.choice(DETERMINERS)), str(rng.choice(ADJECTIVES)), str(rng.choice(NOUNS))]
        return [w for w in words if w]

    sentences = []
    for _ in range(count):
        verb = str(rng.choice(VERBS))
        words = noun_phrase() + [verb] + (noun_phrase() if verb in TRANSITIVE else []) + [END]
        sentences.append(" ".join(words))
    return sentences


def vocabulary(sentences: list[str]) -> list[str]:
    """The characters of the text; id 0 is the padding, ids start at 1."""
    return sorted(set("".join(sentences)))


def encode(sentences: list[str], chars: list[str], length: int) -> np.ndarray:
    """Rows of character ids (1-based), padded with 0 to ``length + 1`` columns."""
    ids = {c: i + 1 for i, c in enumerate(chars)}
    rows = np.zeros((len(sentences), length + 1), dtype="int64")
    for r, sentence in enumerate(sentences):
        codes = [ids[c] for c in sentence[: length + 1]]
        rows[r, : len(codes)] = codes
    return rows


def build_model(vocab_size: int, length: int, units: int = 64, learning_rate: float = 1e-2) -> models.Model:
    """Embedding(mask_zero) -> LSTM -> TimeDistributed(Dense softmax), compiled."""
    model = models.Sequential([
        layers.Input((length,), dtype="int64"),
        layers.Embedding(vocab_size + 1, 16, mask_zero=True),
        layers.LSTM(units, return_sequences=True),
        layers.TimeDistributed(layers.Dense(vocab_size + 1, activation="softmax")),
    ], name="text_lstm")
    model.compile(optimizer=optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    return model


def masked_accuracy(model: models.Model, rows: np.ndarray) -> float:
    """The fraction of real (unpadded) next characters the model predicts."""
    inputs, targets = rows[:, :-1], rows[:, 1:]
    predicted = model.predict(inputs, verbose=0).argmax(axis=-1)
    real = targets != 0
    return float((predicted == targets)[real].mean())


def complete(model: models.Model, chars: list[str], start: str, length: int) -> str:
    """A sentence written greedily from ``start`` until the end mark or ``length`` characters."""
    ids = {c: i + 1 for i, c in enumerate(chars)}
    text = start
    while len(text) < length and not text.endswith(END):
        row = np.zeros((1, length), dtype="int64")
        row[0, : len(text)] = [ids[c] for c in text]
        probabilities = model.predict(row, verbose=0)[0, len(text) - 1]
        choice = int(np.argmax(probabilities[1:])) + 1
        text += chars[choice - 1]
    return text


def main(quick: bool = False, seed: int = 0) -> dict:
    th.set_seed(seed)
    sentences = generate_sentences(300 if quick else 3000, seed)
    chars = vocabulary(sentences)
    length = max(len(s) for s in sentences)
    rows = encode(sentences, chars, length)
    split = int(0.9 * len(rows))
    train, held_out = rows[:split], rows[split:]
    model = build_model(len(chars), length)
    model.summary()
    epochs = 8 if quick else 15
    history = model.fit(train[:, :-1], train[:, 1:], epochs=epochs, batch_size=32, verbose=0 if quick else 1)
    accuracy = masked_accuracy(model, held_out)
    print(f"loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}; "
          f"held-out next-character accuracy {accuracy:.3f}")
    for start in ("t", "a", "the o"):
        print(f"  {start!r} -> {complete(model, chars, start, length)!r}")
    return {"loss": history.history["loss"], "accuracy": accuracy}


if __name__ == "__main__":
    args = quick_and_seed(__doc__)
    main(quick=args.quick, seed=args.seed)

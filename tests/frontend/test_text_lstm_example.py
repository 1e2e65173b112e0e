"""The text example: an Embedding + LSTM language model learns the generated grammar."""

import numpy as np

from theanine.frontend.examples import text_lstm


def test_generated_text_and_encoding():
    sentences = text_lstm.generate_sentences(50, seed=1)
    assert all(s.endswith(" .") for s in sentences)
    chars = text_lstm.vocabulary(sentences)
    rows = text_lstm.encode(sentences, chars, length=max(map(len, sentences)))
    assert rows.min() == 0 and rows.max() == len(chars)
    decoded = "".join(chars[i - 1] for i in rows[0] if i)
    assert decoded == sentences[0]


def test_quick_run_learns_the_grammar():
    result = text_lstm.main(quick=True, seed=0)
    assert result["loss"][-1] < 0.5 * result["loss"][0]
    assert result["accuracy"] > 0.6


def test_completion_writes_grammatical_words():
    sentences = text_lstm.generate_sentences(300, seed=0)
    chars = text_lstm.vocabulary(sentences)
    length = max(map(len, sentences))
    rows = text_lstm.encode(sentences, chars, length)
    model = text_lstm.build_model(len(chars), length)
    model.fit(rows[:, :-1], rows[:, 1:], epochs=8, batch_size=32, verbose=0)
    text = text_lstm.complete(model, chars, "the ", length)
    words = set(text_lstm.DETERMINERS + text_lstm.ADJECTIVES + text_lstm.NOUNS + text_lstm.VERBS + (".",))
    assert text.startswith("the ") and np.mean([w in words for w in text.split()]) >= 0.5

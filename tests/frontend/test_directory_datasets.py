"""``utils.image_dataset_from_directory`` / ``text_dataset_from_directory`` /
``audio_dataset_from_directory`` on local folders:
indexing, labels, splits, shuffling, batches, and training from them."""

import numpy as np
import pytest

from theanine.frontend import layers, models, optimizers, utils


@pytest.fixture
def text_folder(tmp_path):
    for name, texts in {"neg": ["bad", "awful", "poor"], "pos": ["good", "great"]}.items():
        (tmp_path / name).mkdir()
        for index, text in enumerate(texts):
            (tmp_path / name / f"{index}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "pos" / "notes.md").write_text("ignored")
    return tmp_path


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label, name in enumerate(["cats", "dogs"]):
        (tmp_path / name).mkdir()
        for index in range(4):
            pixels = np.full((6, 8, 3), 40.0 + 150 * label) + rng.integers(0, 20, size=(6, 8, 3))
            utils.save_img(tmp_path / name / f"{index}.png", pixels, scale=False)
    return tmp_path


def test_text_folder_labels_order_and_batches(text_folder, capsys):
    dataset = utils.text_dataset_from_directory(text_folder, batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert dataset.class_names == ["neg", "pos"] and len(dataset) == 3
    texts, labels = dataset[0]
    assert texts.tolist() == ["bad", "awful"] and labels.dtype == np.int32 and labels.tolist() == [0, 0]
    assert dataset[2][0].tolist() == ["great"] and dataset[2][1].tolist() == [1]
    cut = utils.text_dataset_from_directory(text_folder, batch_size=None, shuffle=False, max_length=2,
                                            label_mode="categorical", class_names=["pos", "neg"], verbose=False)
    text, label = cut[0]
    assert text == "go" and label.tolist() == [1.0, 0.0]


def test_text_folder_splits_shuffles_and_explicit_labels(text_folder):
    train, val = utils.text_dataset_from_directory(text_folder, validation_split=0.4, subset="both", seed=3,
                                                   batch_size=8, verbose=False)
    assert len(train.file_paths) == 3 and len(val.file_paths) == 2
    assert sorted(train.file_paths + val.file_paths) == sorted(
        utils.text_dataset_from_directory(text_folder, shuffle=False, verbose=False).file_paths)
    again = utils.text_dataset_from_directory(text_folder, validation_split=0.4, subset="validation", seed=3,
                                              verbose=False)
    assert again.file_paths == val.file_paths
    plain = utils.text_dataset_from_directory(text_folder, labels=None, shuffle=False, verbose=False)
    assert plain[0].shape == (5,) and plain.class_names is None
    given = utils.text_dataset_from_directory(text_folder, labels=[1, 0, 1, 0, 1], shuffle=False,
                                              label_mode="binary", verbose=False)
    assert given[0][1].tolist() == [[1.0], [0.0], [1.0], [0.0], [1.0]]
    with pytest.raises(ValueError, match="give a seed"):
        utils.text_dataset_from_directory(text_folder, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="6 labels for the 5 files"):
        utils.text_dataset_from_directory(text_folder, labels=[0] * 6, verbose=False)
    with pytest.raises(ValueError, match="must name subfolders"):
        utils.text_dataset_from_directory(text_folder, class_names=["pos", "other"], verbose=False)


def test_image_folder_batches_and_training(image_folder):
    dataset = utils.image_dataset_from_directory(image_folder, image_size=(3, 4), batch_size=3, seed=1,
                                                 label_mode="binary", verbose=False)
    images, labels = dataset[0]
    assert images.shape == (3, 3, 4, 3) and images.dtype == np.float32 and labels.shape == (3, 1)
    for image, label in zip(images, labels[:, 0], strict=True):  # dogs are brighter
        assert (image.mean() > 120) == (label == 1.0)
    gray = utils.image_dataset_from_directory(image_folder, image_size=(6, 8), color_mode="grayscale",
                                              shuffle=False, verbose=False)
    assert gray[0][0].shape == (8, 6, 8, 1)
    utils.set_random_seed(0)
    model = models.Sequential([layers.Input(shape=(3, 4, 3)), layers.Rescaling(1 / 255), layers.Flatten(),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(dataset, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] == 1.0
    with pytest.raises(NotImplementedError, match="pad_to_aspect_ratio"):
        utils.image_dataset_from_directory(image_folder, pad_to_aspect_ratio=True)


def test_audio_folder_scaling_padding_and_resampling(tmp_path):
    import scipy.io.wavfile

    for label, name in enumerate(["no", "yes"]):
        (tmp_path / name).mkdir()
        samples = np.array([0, 16384, -32768, 32767][: 3 + label], "int16")
        scipy.io.wavfile.write(tmp_path / name / "clip.wav", 8000, samples)
    dataset = utils.audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False)
    audio, labels = dataset[0]
    assert audio.shape == (2, 4, 1) and audio.dtype == np.float32 and labels.tolist() == [0, 1]
    np.testing.assert_allclose(audio[:, :, 0], [[0, 0.5, -1, 0], [0, 0.5, -1, 32767 / 32768]])
    cut = utils.audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False, output_sequence_length=2)
    assert cut[0][0].shape == (2, 2, 1)
    scipy.io.wavfile.write(tmp_path / "no" / "tone.wav", 8000, np.sin(np.arange(800) / 5).astype("float32"))
    resampled = utils.audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False, sampling_rate=4000,
                                                   batch_size=None)
    tone = resampled[1][0]  # "no/clip.wav", "no/tone.wav", "yes/clip.wav"
    assert tone.shape == (400, 1)
    np.testing.assert_allclose(tone[50:350, 0], np.sin(np.arange(50, 350) * 2 / 5), atol=0.02)
    with pytest.raises(NotImplementedError, match="ragged"):
        utils.audio_dataset_from_directory(tmp_path, ragged=True)

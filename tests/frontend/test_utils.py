"""keras.utils: to_categorical and pad_sequences as Keras documents them."""

import numpy as np
import pytest

from theanine.frontend import utils


def test_to_categorical_matches_the_keras_docstring():
    expected = np.eye(4)
    got = utils.to_categorical([0, 1, 2, 3], num_classes=4)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float64


def test_to_categorical_infers_classes_and_drops_a_trailing_1():
    got = utils.to_categorical(np.array([[2], [0]]))
    np.testing.assert_array_equal(got, [[0, 0, 1], [1, 0, 0]])
    grid = utils.to_categorical(np.array([[0, 1], [1, 0]]), 2)
    assert grid.shape == (2, 2, 2) and grid[0, 1].tolist() == [0.0, 1.0]


def test_to_categorical_errors_name_the_labels():
    with pytest.raises(ValueError, match=r"labels in \[0, 2\). Received labels from 0 to 2"):
        utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match=r"labels in \[0, 3\). Received labels from -1"):
        utils.to_categorical([-1, 2])
    with pytest.raises(ValueError, match=r"integer class labels"):
        utils.to_categorical([0.5, 1.0])


def test_pad_sequences_pads_and_truncates_as_keras():
    sequences = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(
        utils.pad_sequences(sequences),
        [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [0, 0, 0, 0, 0], [5, 6, 7, 8, 9]],
    )
    np.testing.assert_array_equal(
        utils.pad_sequences(sequences, maxlen=3, padding="post", truncating="post"),
        [[1, 2, 3], [4, 0, 0], [0, 0, 0], [5, 6, 7]],
    )
    np.testing.assert_array_equal(utils.pad_sequences(sequences, maxlen=2)[3], [8, 9])
    padded = utils.pad_sequences([[[1.5, 2.0]], [[3.0, 4.0], [5.0, 6.0]]], dtype="float32", value=-1.0)
    assert padded.dtype == np.float32 and padded.shape == (2, 2, 2)
    np.testing.assert_array_equal(padded[0], [[-1.0, -1.0], [1.5, 2.0]])
    assert utils.pad_sequences([[1, 2]]).dtype == np.int32
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'. Received: padding='middle'"):
        utils.pad_sequences(sequences, padding="middle")
    with pytest.raises(ValueError, match="sequence 1 is not a sequence"):
        utils.pad_sequences([[1], 2])


def test_set_random_seed_makes_models_and_training_repeat():
    from theanine.frontend import layers, models

    def run():
        utils.set_random_seed(7)
        model = models.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dropout(0.5), layers.Dense(1)])
        model.compile("sgd", "mse")
        x = np.random.rand(16, 3).astype("float32")  # NumPy's global generator is seeded too
        return model.fit(x, np.ones((16, 1)), verbose=0).history["loss"], model.get_weights()

    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert loss_a == loss_b and all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
    with pytest.raises(TypeError, match="seed must be an int"):
        utils.set_random_seed(1.5)


def test_mnist_reads_keras_file_and_never_downloads(tmp_path):
    from theanine.frontend import datasets

    with pytest.raises(FileNotFoundError, match="theanine downloads nothing"):
        datasets.mnist.load_data(str(tmp_path / "absent.npz"))
    images = np.arange(2 * 28 * 28, dtype="uint8").reshape(2, 28, 28)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=np.array([3, 4], "uint8"), x_test=images[:1],
             y_test=np.array([5], "uint8"))
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data(str(tmp_path / "mnist.npz"))
    assert x_train.shape == (2, 28, 28) and y_train.tolist() == [3, 4] and y_test.tolist() == [5]
    assert np.array_equal(x_test[0], images[0])

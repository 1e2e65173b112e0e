"""keras.utils: to_categorical as Keras documents it."""

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

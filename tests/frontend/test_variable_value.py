"""Keras 3's ``Variable.value`` and ``np.asarray(variable)``: an array outside a call, the variable
itself (read symbolically, so training updates it) inside a layer's call."""

from __future__ import annotations

import numpy as np

import theanine.frontend as keras
from theanine.frontend import layers


class ValueDense(layers.Layer):
    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", name="kernel")

    def call(self, x):
        return x @ self.kernel.value


def test_value_outside_a_call_is_a_copy_of_the_current_value():
    variable = keras.Variable(np.arange(6, dtype="float32").reshape(2, 3))
    value = variable.value
    assert isinstance(value, np.ndarray)
    np.testing.assert_array_equal(value, np.arange(6).reshape(2, 3))
    value[0, 0] = 100
    assert variable.numpy()[0, 0] == 0
    np.testing.assert_array_equal(np.asarray(variable), np.arange(6).reshape(2, 3))
    assert np.asarray(variable, dtype="float64").dtype == np.float64


def test_value_inside_a_call_is_symbolic_so_fit_trains_the_weight():
    model = keras.Sequential([keras.Input((3,)), ValueDense()])
    np.testing.assert_allclose(model.predict(np.ones((1, 3), "float32"), verbose=0), [[3.0, 3.0]])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    # one SGD step on mse: d/dk mean((x @ k)^2) = 2 * x^T (x @ k) / (4 * 2) = 2 * 4 * 3 / 8 = 3 per entry
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), np.full((3, 2), 1 - 0.1 * 3), rtol=1e-6)

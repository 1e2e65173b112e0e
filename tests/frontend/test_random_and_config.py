"""``keras.random`` (eager at top level, symbolic in a traced call) and ``keras.config``."""

import numpy as np
import pytest

import theanine as th
import theanine.frontend as keras
from theanine.frontend import layers, models


def test_eager_draws_follow_the_seed_rules():
    generator = keras.random.SeedGenerator(1337)
    first, second = keras.random.normal((200, 3), seed=generator), keras.random.normal((200, 3), seed=generator)
    assert first.dtype == np.float32 and not np.allclose(first, second)  # a generator advances
    assert abs(first.mean()) < 0.2 and abs(first.std() - 1) < 0.2
    np.testing.assert_array_equal(keras.random.uniform((5,), seed=7), keras.random.uniform((5,), seed=7))
    ints = keras.random.randint((100,), 2, 5, seed=1)
    assert ints.dtype == np.int32 and set(np.unique(ints)) <= {2, 3, 4}
    assert sorted(keras.random.shuffle(np.arange(6), seed=2).tolist()) == list(range(6))
    dropped = keras.random.dropout(np.ones((50, 4), "float32"), 0.5, seed=3)
    assert set(np.unique(dropped)) <= {0.0, 2.0}
    with pytest.raises(TypeError, match="seed must be None, an int or a SeedGenerator"):
        keras.random.normal((2,), seed="x")


def test_draws_inside_a_layer_are_symbolic_and_fresh_each_step():
    class Noise(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(3)

        def call(self, inputs):
            return inputs + keras.random.normal(th.shape(inputs), seed=self.seed_generator)

    model = models.Sequential([layers.Input((4,)), Noise()])
    x = np.zeros((2, 4), "float32")
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert a.shape == (2, 4) and not np.allclose(a, b)
    assert isinstance(keras.random.normal(th.shape(th.matrix("m"))), th.Variable)


def test_config():
    assert keras.config.floatx() == th.config.floatX and keras.config.epsilon() == 1e-7
    assert keras.config.image_data_format() == "channels_last" and keras.config.backend() == "theanine"
    with th.config.context(floatX="float32"):
        keras.config.set_floatx("float64")
        assert th.config.floatX == "float64" and keras.ops.ones((1,)).dtype == np.float64
    with pytest.raises(ValueError, match="expected a float dtype"):
        keras.config.set_floatx("int32")


def test_backend_reexports_the_config_module():
    assert keras.backend.floatx is keras.config.floatx and keras.backend.floatx() == th.config.floatX
    keras.backend.clear_session()

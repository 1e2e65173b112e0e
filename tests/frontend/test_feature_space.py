"""``utils.FeatureSpace``: presets and Feature objects, adapt on columns or batches, concatenated and
dict outputs (values worked out from the preprocessors' definitions), crosses, and training on it."""

import numpy as np
import pytest

from theanine.frontend import layers, models, optimizers, utils

FS = utils.FeatureSpace
DATA = {
    "age": np.array([20.0, 40.0, 60.0, 80.0]),
    "city": np.array(["paris", "rome", "paris", "oslo"]),
    "rooms": np.array([1, 2, 2, 5]),
    "score": np.array([0.0, 1.0, 2.0, 3.0]),
}


def _space(**kwargs):
    return FS({"age": "float_normalized", "city": "string_categorical", "rooms": "integer_categorical",
               "score": FS.float_rescaled(scale=0.5, offset=1.0)}, **kwargs)


def test_concat_output_in_sorted_feature_order():
    space = _space()
    space.adapt(DATA)
    out = space(DATA)
    assert out.dtype == np.float32 and out.shape == (4, 1 + 4 + 4 + 1)  # age, city (3 + OOV), rooms (3 + OOV), score
    np.testing.assert_allclose(out[:, 0], (DATA["age"] - 50) / np.std(DATA["age"]), rtol=1e-5)
    city = out[:, 1:5]
    assert (city.sum(axis=1) == 1).all() and city[0].tolist() == city[2].tolist() != city[1].tolist()
    assert space.preprocessors["city"].get_vocabulary()[0] == "[UNK]"
    unseen = space({"age": np.array([50.0]), "city": np.array(["lima"]), "rooms": np.array([9]),
                    "score": np.array([4.0])})
    assert unseen[0, 1] == 1.0 and unseen[0, 5] == 1.0 and unseen[0, -1] == 3.0  # OOV slots; 4 * 0.5 + 1
    single = space({"age": 50.0, "city": "rome", "rooms": 2, "score": 0.0})
    assert single.shape == (10,) and single[0] == 0.0


def test_dict_output_crosses_hashing_and_discretization():
    space = FS({"city": FS.string_categorical(output_mode="int"), "rooms": FS.integer_hashed(8),
                "score": FS.float_discretized(num_bins=2)}, output_mode="dict",
               crosses=[FS.cross(("city", "rooms"), crossing_dim=16)])
    space.adapt([{k: v[:2] for k, v in DATA.items()}, {k: v[2:] for k, v in DATA.items()}])  # batches
    out = space(DATA)
    assert sorted(out) == ["city", "city_X_rooms", "rooms", "score"]
    assert out["city"].dtype.kind == "i" and out["city"].shape == (4, 1)
    assert out["rooms"].shape == (4, 8) and (out["rooms"].sum(axis=1) == 1).all()
    np.testing.assert_array_equal(out["score"], [[1, 0], [1, 0], [0, 1], [0, 1]])  # median 1.5 splits
    assert out["city_X_rooms"].shape == (4, 16)
    np.testing.assert_array_equal(out["rooms"][1], out["rooms"][2])  # equal rooms hash alike
    with pytest.raises(ValueError, match="cannot concatenate feature 'city'"):
        concat = FS({"city": FS.string_categorical(output_mode="int")})
        concat.adapt(DATA)
        concat(DATA)


def test_errors_and_model_inputs():
    with pytest.raises(ValueError, match="invalid feature type 'text'"):
        FS({"a": "text"})
    with pytest.raises(ValueError, match="unknown features"):
        FS({"a": "float"}, crosses=[("a", "b")])
    space = _space()
    with pytest.raises(ValueError, match="call adapt"):
        space(DATA)
    with pytest.raises(NotImplementedError, match="no string tensors"):
        space.get_inputs()
    assert FS({"a": "float", "b": FS.float_rescaled(2.0)})({"a": [1.0], "b": [2.0]}).tolist() == [[1.0, 4.0]]


def test_training_on_encoded_features():
    rng = np.random.default_rng(0)
    cities = rng.choice(["paris", "rome", "oslo"], size=64)
    data = {"city": cities, "age": rng.uniform(20, 80, size=64)}
    labels = (cities == "rome").astype("float32")[:, None]
    space = FS({"city": "string_categorical", "age": "float_normalized"})
    space.adapt(data)
    encoded = space.get_encoded_features()
    assert tuple(encoded.type.shape) == (None, 5)
    utils.set_random_seed(1)
    model = models.Model(encoded, layers.Dense(1, activation="sigmoid")(encoded))
    model.compile(optimizers.Adam(0.1), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(space(data), labels, epochs=30, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] == 1.0

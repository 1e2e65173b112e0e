"""Merge layers against NumPy, their gradients, shape checks, and two-input functional models."""

import functools

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers, models, optimizers

ELEMENTWISE = [
    (layers.Add, lambda arrays: functools.reduce(np.add, arrays)),
    (layers.Multiply, lambda arrays: functools.reduce(np.multiply, arrays)),
    (layers.Average, lambda arrays: sum(arrays) / len(arrays)),
    (layers.Maximum, lambda arrays: functools.reduce(np.maximum, arrays)),
    (layers.Minimum, lambda arrays: functools.reduce(np.minimum, arrays)),
]


def _run(layer, values):
    xs = [th.tensor(f"x{i}", "float64", (None, *v.shape[1:])) for i, v in enumerate(values)]
    out = layer(xs)
    return th.function(xs, out)(*values), out


@pytest.mark.parametrize(
    ("cls", "reference"), ELEMENTWISE, ids=lambda c: getattr(c, "__name__", "")
)
@pytest.mark.parametrize("count", [2, 3])
def test_elementwise_merges_match_numpy(rng, cls, reference, count):
    values = list(rng.normal(size=(count, 4, 5)))
    result, out = _run(cls(dtype="float64"), values)
    np.testing.assert_allclose(result, reference(values), rtol=1e-12)
    assert out.type.shape == (None, 5)
    th.verify_grad(lambda *xs: cls(dtype="float64")(list(xs)), values)


def test_subtract_takes_exactly_two_inputs(rng):
    a, b = rng.normal(size=(2, 3, 4))
    result, _ = _run(layers.Subtract(dtype="float64"), [a, b])
    np.testing.assert_array_equal(result, a - b)
    th.verify_grad(lambda x, y: layers.Subtract(dtype="float64")([x, y]), [a, b])
    with pytest.raises(ValueError, match=r"expects exactly 2 inputs. Received: 3 inputs"):
        layers.Subtract()([layers.Input(shape=(4,)) for _ in range(3)])


def test_elementwise_merges_broadcast_sizes_of_one(rng):
    a, b = rng.normal(size=(2, 1, 4)), rng.normal(size=(2, 3, 4))
    result, out = _run(layers.Add(dtype="float64"), [a, b])
    np.testing.assert_array_equal(result, a + b)
    assert out.type.shape == (None, 3, 4)
    assert layers.Multiply().compute_output_shape([(None, 1, 4), (None, 3, 1)]) == (None, 3, 4)


def test_merge_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"incompatible shapes: sizes 4 and 5 on axis 1"):
        layers.Add()([layers.Input(shape=(4,)), layers.Input(shape=(5,))])
    with pytest.raises(ValueError, match=r"expects inputs of one rank. Received: shapes"):
        layers.Maximum()([layers.Input(shape=(4,)), layers.Input(shape=(2, 4))])
    with pytest.raises(ValueError, match=r"is called on a list of tensors"):
        layers.Add()(layers.Input(shape=(4,)))


@pytest.mark.parametrize(
    ("axis", "shapes"), [(-1, [(3, 2, 4), (3, 2, 1)]), (1, [(3, 1, 4), (3, 2, 4)])]
)
def test_concatenate_matches_numpy(rng, axis, shapes):
    values = [rng.normal(size=s) for s in shapes]
    layer = layers.Concatenate(axis=axis, dtype="float64")
    result, out = _run(layer, values)
    expected = np.concatenate(values, axis=axis)
    np.testing.assert_array_equal(result, expected)
    assert out.type.shape == (None, *expected.shape[1:])
    assert layer.compute_output_shape([(None, *s[1:]) for s in shapes]) == out.type.shape
    th.verify_grad(lambda *xs: layers.Concatenate(axis, dtype="float64")(list(xs)), values)
    assert layers.Concatenate.from_config(layer.get_config()).axis == axis


def test_concatenate_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"axis 1 has sizes \[2, 3\]"):
        layers.Concatenate()([layers.Input(shape=(2, 4)), layers.Input(shape=(3, 4))])
    with pytest.raises(ValueError, match=r"got axis=3 for inputs of rank 2"):
        layers.Concatenate(axis=3)([layers.Input(shape=(2,)), layers.Input(shape=(2,))])


DOT_CASES = [
    (1, (4, 5), (4, 5), lambda x, y: np.sum(x * y, axis=1, keepdims=True)),
    ((1, 2), (4, 5, 2), (4, 3, 5), lambda x, y: np.einsum("bij,bki->bjk", x, y)),
    (-1, (4, 3, 2), (4, 5, 2), lambda x, y: np.einsum("bik,bjk->bij", x, y)),
    (1, (4, 3), (4, 3, 5), lambda x, y: np.einsum("bi,bij->bj", x, y)),
    ((2, 1), (4, 6, 3), (4, 3), lambda x, y: np.einsum("bij,bj->bi", x, y)),
]


@pytest.mark.parametrize(("axes", "x_shape", "y_shape", "reference"), DOT_CASES)
def test_dot_matches_numpy_batch_dot(rng, axes, x_shape, y_shape, reference):
    x, y = rng.normal(size=x_shape), rng.normal(size=y_shape)
    layer = layers.Dot(axes, dtype="float64")
    result, out = _run(layer, [x, y])
    expected = reference(x, y)
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    assert out.type.shape == (None, *expected.shape[1:])
    assert layer.compute_output_shape([(None, *x_shape[1:]), (None, *y_shape[1:])]) == (
        None,
        *expected.shape[1:],
    )
    th.verify_grad(lambda a, b: layers.Dot(axes, dtype="float64")([a, b]), [x, y])


def test_dot_normalize_gives_the_cosine_similarity(rng):
    x, y = rng.normal(size=(2, 3, 4))
    result, _ = _run(layers.Dot(axes=1, normalize=True, dtype="float64"), [x, y])
    cosine = np.sum(x * y, axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    np.testing.assert_allclose(result[:, 0], cosine, rtol=1e-12)
    th.verify_grad(lambda a, b: layers.Dot(1, normalize=True, dtype="float64")([a, b]), [x, y])
    config = layers.Dot((1, 1), normalize=True).get_config()
    assert (config["axes"], config["normalize"]) == ([1, 1], True)
    assert layers.Dot.from_config(config).get_config() == config


def test_dot_rejects_batch_axis_and_size_mismatch():
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(5,))
    with pytest.raises(ValueError, match=r"contracts axes of different sizes 4 and 5"):
        layers.Dot(1)([a, b])
    with pytest.raises(ValueError, match=r"non-batch axis in range"):
        layers.Dot(0)([a, a])
    with pytest.raises(ValueError, match=r"an int or a pair of ints. Received: axes=\(1, 2, 3\)"):
        layers.Dot((1, 2, 3))


def _two_input_model():
    """Every merge layer in one functional graph over two inputs."""
    a, b = layers.Input(shape=(4,), name="a"), layers.Input(shape=(4,), name="b")
    ha, hb = layers.Dense(4, name="da")(a), layers.Dense(4, name="db")(b)
    merged = layers.Concatenate()(
        [
            layers.Add()([ha, hb]),
            layers.Subtract()([ha, hb]),
            layers.Multiply()([ha, hb]),
            layers.Average()([ha, hb]),
            layers.Maximum()([ha, hb]),
            layers.Minimum()([ha, hb]),
            layers.Dot(axes=1)([ha, hb]),
            layers.Dot(axes=1, normalize=True)([ha, hb]),
        ]
    )
    return models.Model([a, b], layers.Dense(1, name="head")(merged))


def _numpy_two_input_model(model, xa, xb):
    (ka, ba), (kb, bb), (kh, bh) = (model.get_layer(n).get_weights() for n in ("da", "db", "head"))
    ha, hb = xa @ ka + ba, xb @ kb + bb
    dot = np.sum(ha * hb, axis=1, keepdims=True)
    norms = np.linalg.norm(ha, axis=1, keepdims=True) * np.linalg.norm(hb, axis=1, keepdims=True)
    parts = [ha + hb, ha - hb, ha * hb, (ha + hb) / 2, np.maximum(ha, hb), np.minimum(ha, hb)]
    return np.concatenate([*parts, dot, dot / norms], axis=1) @ kh + bh


def test_merge_layers_in_a_two_input_functional_model(rng, tmp_path):
    th.set_seed(4)
    model = _two_input_model()
    assert model.outputs[0].type.shape == (None, 1)
    xa, xb = rng.normal(size=(2, 16, 4)).astype("float32")
    y = (xa.sum(axis=1, keepdims=True) - xb.sum(axis=1, keepdims=True)).astype("float32")
    np.testing.assert_allclose(
        model.predict([xa, xb], verbose=0),
        _numpy_two_input_model(model, xa, xb),
        rtol=1e-4,
        atol=1e-5,
    )
    model.compile(optimizers.Adam(0.02), "mse")
    history = model.fit([xa, xb], y, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    path = tmp_path / "merging.theanine"
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_array_equal(
        restored.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0)
    )
    assert restored.get_config() == model.get_config()


FUNCTIONAL_TWINS = [
    (layers.add, layers.Add, lambda a, b: a + b, {}),
    (layers.subtract, layers.Subtract, lambda a, b: a - b, {}),
    (layers.multiply, layers.Multiply, lambda a, b: a * b, {}),
    (layers.average, layers.Average, lambda a, b: (a + b) / 2, {}),
    (layers.maximum, layers.Maximum, np.maximum, {}),
    (layers.minimum, layers.Minimum, np.minimum, {}),
    (layers.concatenate, layers.Concatenate, lambda a, b: np.concatenate([a, b], 1), {"axis": 1}),
    (layers.dot, layers.Dot, lambda a, b: (a * b).sum(1, keepdims=True), {"axes": 1}),
]


@pytest.mark.parametrize(
    ("merge", "cls", "reference", "options"),
    FUNCTIONAL_TWINS,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_lower_case_merges_build_their_layer_in_a_functional_model(
    rng, merge, cls, reference, options
):
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(4,))
    model = models.Model([a, b], merge([a, b], name="merged", **options))
    merged = model.get_layer("merged")
    assert type(merged) is cls
    assert all(merged.get_config()[k] == v for k, v in options.items())
    x, y = rng.normal(size=(2, 5, 4)).astype("float32")
    np.testing.assert_allclose(model.predict([x, y], verbose=0), reference(x, y), rtol=1e-5)


def test_dot_normalize_through_the_functional_twin(rng):
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    model = models.Model([a, b], layers.dot([a, b], axes=-1, normalize=True))
    x, y = rng.normal(size=(2, 4, 3)).astype("float32")
    cosine = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(model.predict([x, y], verbose=0)[:, 0], cosine, rtol=1e-5)

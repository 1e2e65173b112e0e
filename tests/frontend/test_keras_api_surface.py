"""Keras 3 names theanine's frontend exposes beyond the classes: metric functions, snake_case
initializer/constraint/regularizer names, the STFT initializer, sparsemax and activation configs."""

import numpy as np
import pytest
import scipy.signal

import theanine as th
import theanine.frontend as keras
from theanine.frontend import activations, constraints, initializers, losses, metrics, regularizers

METRIC_FUNCTIONS = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge",
)


@pytest.mark.parametrize("name", METRIC_FUNCTIONS)
def test_metric_functions_are_the_loss_functions(name):
    assert getattr(metrics, name) is getattr(losses, name)
    assert name in metrics.__all__


def test_metric_functions_compute_per_sample_values():
    y_true = np.array([[0.0, 1.0], [1.0, 1.0]], "float32")
    y_pred = np.array([[0.5, 0.25], [2.0, 1.0]], "float32")
    np.testing.assert_allclose(metrics.mean_squared_error(y_true, y_pred), [(0.25 + 0.5625) / 2, 0.5], rtol=1e-6)
    np.testing.assert_allclose(metrics.poisson(y_true, y_pred),
                               np.mean(y_pred - y_true * np.log(y_pred + 1e-7), axis=-1), rtol=1e-5)
    labels = np.array([1, 0])
    probs = np.array([[0.2, 0.8], [0.6, 0.4]], "float32")
    np.testing.assert_allclose(metrics.sparse_categorical_crossentropy(labels, probs),
                               -np.log([0.8, 0.6]), rtol=1e-5)


SNAKE_INITIALIZERS = {
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
    "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal", "he_normal": "HeNormal", "he_uniform": "HeUniform",
    "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform", "orthogonal": "Orthogonal",
    "identity": "Identity", "IdentityInitializer": "Identity", "OrthogonalInitializer": "Orthogonal",
    "STFTInitializer": "STFT", "stft": "STFT",
}


@pytest.mark.parametrize("alias, cls", sorted(SNAKE_INITIALIZERS.items()))
def test_initializer_snake_case_names_are_the_classes(alias, cls):
    assert getattr(initializers, alias) is getattr(initializers, cls)
    assert type(initializers.get(alias)) is getattr(initializers, cls)


def test_glorot_uniform_alias_draws_like_the_class():
    np.testing.assert_array_equal(initializers.glorot_uniform(seed=3)((4, 5)),
                                  initializers.GlorotUniform(seed=3)((4, 5)))


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize("window, scaling", [("hann", "density"), ("hamming", "spectrum"), (None, None)])
def test_stft_kernel_computes_one_side_of_the_windowed_rfft(side, window, scaling):
    frames, bins = 16, 9  # a frame as long as the FFT: the kernel's product is rfft's real/imag part
    kernel = initializers.STFT(side, window, scaling)((frames, 1, bins), "float64")
    signal = np.random.default_rng(0).normal(size=frames)
    win = np.ones(frames) if window is None else scipy.signal.get_window(window, frames, False)
    scale = {"density": np.sqrt(np.sum(win**2)), "spectrum": np.sum(np.abs(win)), None: 1.0}[scaling]
    spectrum = np.fft.rfft(signal * win) / scale
    expected = spectrum.real if side == "real" else spectrum.imag
    np.testing.assert_allclose(signal @ kernel[:, 0, :], expected, atol=1e-12)


def test_stft_kernel_values_match_keras():
    # keras.initializers.STFT("real", "hann", "density")((4, 1, 3))[:, 0, :] from Keras 3.15 (jax)
    hann = scipy.signal.get_window("hann", 4, False)
    norm = np.sqrt(np.sum(hann**2))
    expected = np.cos(-np.pi * np.outer(np.arange(4), np.arange(3)) / 2) * hann[:, None] / norm
    kernel = initializers.stft()((4, 2, 3))
    assert kernel.dtype == np.float32 and kernel.shape == (4, 2, 3)
    np.testing.assert_allclose(kernel[:, 1, :], expected, atol=1e-7)


def test_stft_config_round_trip_and_errors():
    made = initializers.STFT("imag", [1.0, 2.0, 3.0], "spectrum", True)
    again = initializers.deserialize(initializers.serialize(made))
    assert again.get_config() == {"side": "imag", "window": [1.0, 2.0, 3.0], "scaling": "spectrum", "periodic": True}
    np.testing.assert_array_equal(again((3, 1, 2)), made((3, 1, 2)))
    with pytest.raises(ValueError, match="side must be 'real' or 'imag'"):
        initializers.STFT("both")
    with pytest.raises(ValueError, match="scaling must be None"):
        initializers.STFT(scaling="l2")
    with pytest.raises(ValueError, match=r"the window must have shape \(5,\)"):
        initializers.STFT(window=[1.0, 2.0])((5, 1, 3))
    with pytest.raises(ValueError, match="the kernel shape must be"):
        initializers.STFT()((5, 3))


@pytest.mark.parametrize("alias, cls", [("max_norm", "MaxNorm"), ("min_max_norm", "MinMaxNorm"),
                                        ("non_neg", "NonNeg"), ("unit_norm", "UnitNorm")])
def test_constraint_snake_case_names(alias, cls):
    assert getattr(constraints, alias) is getattr(constraints, cls)


def test_orthogonal_regularizer_name():
    assert regularizers.orthogonal_regularizer is regularizers.OrthogonalRegularizer
    penalty = regularizers.orthogonal_regularizer(factor=0.2)(th.constant(np.eye(3)))
    assert float(th.evaluate([penalty], {})[0]) == 0.0


def _sparsemax_reference(z):
    """The simplex projection by sorting (Martins & Astudillo 2016, algorithm 1), row by row."""
    out = np.empty_like(z)
    for i, row in enumerate(z):
        ordered = np.sort(row)[::-1]
        ks = np.arange(1, row.size + 1)
        k = ks[1 + ks * ordered > np.cumsum(ordered)].max()
        out[i] = np.maximum(row - (ordered[:k].sum() - 1) / k, 0)
    return out


def test_sparsemax_values_and_gradient():
    z = np.random.default_rng(1).normal(size=(4, 6)) * 2
    np.testing.assert_allclose(keras.ops.sparsemax(z), _sparsemax_reference(z), atol=1e-12)
    np.testing.assert_allclose(keras.ops.sparsemax(z.T, axis=0), _sparsemax_reference(z).T, atol=1e-12)
    assert activations.get("sparsemax") is activations.sparsemax
    weights = th.constant(np.random.default_rng(2).normal(size=(4, 6)))
    th.verify_grad(lambda x: (activations.sparsemax(x) * weights).sum(), [z], rng=np.random.RandomState(0))


def test_sparsemax_jacobian_is_the_projection_onto_the_support():
    z = th.dvector("z")
    jacobian = th.function([z], th.jacobian(activations.sparsemax(z), z))
    value = np.array([1.0, 0.8, -1.0, 0.1])
    support = _sparsemax_reference(value[None])[0] > 0
    s = support.astype(float)
    np.testing.assert_allclose(jacobian(value), np.diag(s) - np.outer(s, s) / s.sum(), atol=1e-12)


def test_activation_deserialize_reads_names_and_keras_dicts():
    assert activations.deserialize("relu") is activations.relu
    assert activations.deserialize({"class_name": "function", "config": "gelu",
                                    "module": "builtins", "registered_name": "function"}) is activations.gelu
    assert activations.deserialize(activations.serialize(activations.sparsemax)) is activations.sparsemax
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        activations.deserialize("nope")
    with pytest.raises(TypeError, match="expects a name or a serialized dict"):
        activations.deserialize(3)

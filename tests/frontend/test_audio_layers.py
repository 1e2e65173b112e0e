"""STFTSpectrogram and MelSpectrogram against Keras 3 (JAX backend) and against NumPy's FFT; configs,
trainable STFT kernels, models saved and reloaded."""


import numpy as np
import pytest
from keras_jax import keras, needs_keras

from theanine.frontend import layers, models

R = np.random.default_rng(0)
SIGNALS = R.standard_normal((2, 300, 2)).astype("float32")
AUDIO = R.standard_normal((2, 1000)).astype("float32")

STFT_CASES = [
    {"mode": "log", "frame_length": 64},
    {"mode": "magnitude", "frame_length": 50, "frame_step": 20, "fft_length": 64, "padding": "same",
     "window": "hamming", "periodic": True},
    {"mode": "psd", "frame_length": 32, "scaling": "spectrum"},
    {"mode": "real", "frame_length": 32, "expand_dims": True},
    {"mode": "imag", "frame_length": 32, "window": None, "scaling": None},
    {"mode": "angle", "frame_length": 32},
    {"mode": "stft", "frame_length": 32, "data_format": "channels_first"},
    {"mode": "log", "frame_length": 32, "expand_dims": True, "data_format": "channels_first"},
]


@needs_keras
@pytest.mark.parametrize("args", STFT_CASES, ids=lambda args: f"{args['mode']}-{len(args)}")
def test_stft_spectrogram_matches_keras(args):
    x = np.moveaxis(SIGNALS, 1, 2) if args.get("data_format") == "channels_first" else SIGNALS
    expected = np.asarray(keras.layers.STFTSpectrogram(**args)(x))
    layer = layers.STFTSpectrogram(**args)
    got = layer(x)
    assert got.shape == expected.shape == tuple(layer.compute_output_shape(x.shape))
    if args["mode"] == "angle":  # atan2 of a zero imaginary part may land on either side of the cut
        np.testing.assert_allclose(np.angle(np.exp(1j * (got - expected))), 0.0, atol=1e-4)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@needs_keras
@pytest.mark.parametrize("args", [
    {"fft_length": 256, "sequence_stride": 128, "num_mel_bins": 20},
    {"fft_length": 128, "sequence_length": 100, "sequence_stride": 64, "num_mel_bins": 16, "power_to_db": False,
     "mag_exp": 1.0, "sampling_rate": 8000, "max_freq": 3000, "min_freq": 50},
    {"fft_length": 256, "sequence_stride": 100, "num_mel_bins": 20, "top_db": 20, "ref_power": 3.0},
])
def test_mel_spectrogram_matches_keras_batched_and_unbatched(args):
    expected = np.asarray(keras.layers.MelSpectrogram(**args)(AUDIO))
    layer = layers.MelSpectrogram(**args)
    got = layer(AUDIO)
    assert got.shape == expected.shape == tuple(layer.compute_output_shape(AUDIO.shape))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    single = np.asarray(keras.layers.MelSpectrogram(**args)(AUDIO[0]))
    np.testing.assert_allclose(layer(AUDIO[0]), single, rtol=1e-4, atol=1e-4 * np.abs(single).max())


def test_stft_magnitude_is_numpy_rfft_of_windowed_frames():
    layer = layers.STFTSpectrogram(mode="magnitude", frame_length=40, frame_step=10, fft_length=64, window="hann",
                                   scaling=None)
    got = layer(SIGNALS)  # (batch, frames, channels * bins)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(40) / 39)  # symmetric Hann (periodic=False)
    frames = np.stack([SIGNALS[:, i * 10:i * 10 + 40] for i in range(27)], 1)  # (batch, frames, 40, channels)
    spectrum = np.abs(np.fft.rfft(frames * window[:, None], n=64, axis=2))  # (batch, frames, bins, channels)
    expected = np.maximum(np.moveaxis(spectrum, 3, 2).reshape(2, 27, 66), np.sqrt(1e-7))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["real_kernel", "imag_kernel"]
    assert [w.name.split("/")[-1] for w in layers.STFTSpectrogram(mode="real", frame_length=8).weights] == []


def test_mel_spectrogram_of_a_tone_peaks_at_its_band():
    t = np.arange(4000) / 8000
    tone = np.sin(2 * np.pi * 1000 * t).astype("float32")
    out = layers.MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=8000, num_mel_bins=32,
                                power_to_db=False)(tone[None])[0]
    edges = np.linspace(1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 4000 / 700), 34)
    peak_mel = 1127 * np.log(1 + 1000 / 700)
    assert abs(edges[1:-1][out[:, 10:20].mean(axis=1).argmax()] - peak_mel) < (edges[1] - edges[0]) * 1.5


def test_configs_round_trip_and_bad_arguments_raise():
    for layer in (layers.STFTSpectrogram(mode="psd", frame_length=32, window="hamming", expand_dims=True),
                  layers.MelSpectrogram(fft_length=128, num_mel_bins=8)):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Output mode is invalid"):
        layers.STFTSpectrogram(mode="power")
    with pytest.raises(ValueError, match="frame_step"):
        layers.STFTSpectrogram(frame_length=16, frame_step=32)
    with pytest.raises(ValueError, match="fft_length"):
        layers.MelSpectrogram(fft_length=64, sequence_length=128)
    with pytest.raises(ValueError, match="expects signals"):
        layers.STFTSpectrogram(frame_length=16)(SIGNALS[0])
    with pytest.raises(ValueError, match="frame_length=0"):
        layers.STFTSpectrogram(frame_length=0)
    with pytest.raises(ValueError, match="num_mel_bins=0"):
        layers.MelSpectrogram(num_mel_bins=0)
    with pytest.raises(ValueError, match="sampling_rate=-8000"):
        layers.MelSpectrogram(sampling_rate=-8000)


def test_spectrogram_model_trains_its_kernels_and_reloads(tmp_path):
    model = models.Sequential([layers.Input((300, 2)), layers.STFTSpectrogram(mode="log", frame_length=32),
                               layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile("sgd", "mse")
    before = model.layers[0].get_weights()[0].copy()
    model.fit(SIGNALS, np.ones((2, 1), "float32"), epochs=2, verbose=0)
    assert not np.allclose(model.layers[0].get_weights()[0], before)  # Keras' kernels are trainable
    path = str(tmp_path / "stft.theanine")
    model.save(path)
    restored = models.load_model(path)
    np.testing.assert_allclose(restored.predict(SIGNALS, verbose=0), model.predict(SIGNALS, verbose=0), rtol=1e-5)
    mel = models.Sequential([layers.Input((1000,)), layers.MelSpectrogram(fft_length=128, num_mel_bins=8)])
    mel.save(str(tmp_path / "mel.theanine"))
    np.testing.assert_allclose(models.load_model(str(tmp_path / "mel.theanine")).predict(AUDIO, verbose=0),
                               layers.MelSpectrogram(fft_length=128, num_mel_bins=8)(AUDIO), rtol=1e-5, atol=1e-4)

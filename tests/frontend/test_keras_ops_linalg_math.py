"""keras.ops linalg and math: factorizations, solves, segment reductions, FFTs, eager and compiled."""

import warnings

import numpy as np
import pytest
import scipy.linalg
from keras_ops_check import assert_close, check

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(3)
A = RNG.normal(size=(2, 3, 3))
B = RNG.normal(size=(2, 3, 2))
R = RNG.normal(size=(4, 3))
SPD = A @ np.swapaxes(A, -1, -2) + 3 * np.eye(3)
LOWER = np.tril(A) + 3 * np.eye(3)
DATA = RNG.normal(size=(5, 2)).astype("float32")
IDS = np.array([0, 2, 0, -1, 2])
SIGNAL = RNG.normal(size=(2, 8)).astype("float32")
IMAG = RNG.normal(size=(2, 8)).astype("float32")


def _segments(reduce, identity):
    out = np.full((4, 2), identity, "float32")
    for s in range(4):
        rows = DATA[IDS == s]
        if len(rows):
            out[s] = reduce(rows, axis=0)
    return out


def _istft_reference(real, imag, sequence_length, stride, fft_length, window, center):
    """Keras' NumPy-backend istft: SciPy's, with the window centred in fft_length, then trimmed."""
    import scipy.signal

    left = (fft_length - sequence_length) // 2
    win = np.pad(scipy.signal.get_window(window, sequence_length), [(left, fft_length - sequence_length - left)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SciPy's NOLA warning for windows that are zero at the ends
        x = scipy.signal.istft(real + 1j * imag, fs=1.0, window=win, nperseg=fft_length, noverlap=fft_length - stride,
                               nfft=fft_length, boundary=False, time_axis=-2, freq_axis=-1)[-1] / win.sum()
    return (x[..., fft_length // 2:-(fft_length // 2)] if center else x).astype(real.dtype)


SPECTRUM = (RNG.normal(size=(2, 7, 5)).astype("float32"), RNG.normal(size=(2, 7, 5)).astype("float32"))


CASES = {
    "inv": (ops.inv, [A], np.linalg.inv(A)),
    "det": (ops.det, [A], np.linalg.det(A)),
    "slogdet": (ops.slogdet, [A], tuple(np.linalg.slogdet(A))),
    "logdet": (ops.logdet, [SPD], np.linalg.slogdet(SPD)[1]),
    "solve": (ops.solve, [A, B], np.linalg.solve(A, B)),
    "solve_vector": (ops.solve, [A[0], B[0, :, 0]], np.linalg.solve(A[0], B[0, :, 0])),
    "solve_triangular": (lambda a, b: ops.solve_triangular(a, b, lower=True), [LOWER, B],
                         np.stack([scipy.linalg.solve_triangular(LOWER[i], B[i], lower=True) for i in range(2)])),
    "cholesky": (ops.cholesky, [SPD], np.linalg.cholesky(SPD)),
    "cholesky_upper": (lambda x: ops.cholesky(x, upper=True), [SPD], np.swapaxes(np.linalg.cholesky(SPD), -1, -2)),
    "cholesky_inverse": (ops.cholesky_inverse, [np.linalg.cholesky(SPD)], np.linalg.inv(SPD)),
    "eigh_values": (lambda x: ops.eigh(x)[0], [SPD], np.linalg.eigh(SPD)[0]),
    "svd_values": (lambda x: ops.svd(x, compute_uv=False), [R], np.linalg.svd(R, compute_uv=False)),
    "pinv": (ops.pinv, [R], np.linalg.pinv(R)),
    "lstsq": (ops.lstsq, [R, R[:, 0] + 1], np.linalg.lstsq(R, R[:, 0] + 1)[0]),
    "matrix_rank": (ops.matrix_rank, [np.stack([R, R * 0])], np.array([3, 0], "int32")),
    "lu_factor": (ops.lu_factor, [A[0]], (scipy.linalg.lu_factor(A[0])[0], scipy.linalg.lu_factor(A[0])[1])),
    "segment_sum": (lambda d, i: ops.segment_sum(d, i, 4), [DATA, IDS], _segments(np.sum, 0.0)),
    "segment_max": (lambda d, i: ops.segment_max(d, i, 4), [DATA, IDS], _segments(np.max, -np.inf)),
    "segment_min": (lambda d: ops.segment_min(d, IDS, 4), [DATA], _segments(np.min, np.inf)),
    "segment_prod": (lambda d: ops.segment_prod(d, IDS, num_segments=4), [DATA], _segments(np.prod, 1.0)),
    "extract_sequences": (lambda x: ops.extract_sequences(x, 3, 2), [SIGNAL],
                          np.stack([SIGNAL[:, i:i + 3] for i in range(0, 5, 2)], axis=1)),
    "fft": (lambda r, i: ops.fft((r, i)), [SIGNAL, IMAG], np.fft.fft(SIGNAL + 1j * IMAG)),
    "fft2_ifft2": (lambda r, i: (ops.fft2((r, i)), ops.ifft2((r, i))), [SIGNAL, IMAG],
                   (np.fft.fft2(SIGNAL + 1j * IMAG), np.fft.ifft2(SIGNAL + 1j * IMAG))),
    "rfft": (lambda x: (ops.rfft(x), ops.rfft(x, 6)), [SIGNAL], (np.fft.rfft(SIGNAL), np.fft.rfft(SIGNAL, 6))),
    "irfft": (lambda r, i: ops.irfft((r, i), 8), [SIGNAL[:, :5], IMAG[:, :5]],
              np.fft.irfft(SIGNAL[:, :5] + 1j * IMAG[:, :5], 8).astype("float32")),
    "istft": (lambda r, i: ops.istft((r, i), 6, 3, 8), [*SPECTRUM], _istft_reference(*SPECTRUM, 6, 3, 8, "hann", True)),
    "istft_hamming_not_centred": (lambda r, i: ops.istft((r, i), 8, 2, 8, window="hamming", center=False), [*SPECTRUM],
                                  _istft_reference(*SPECTRUM, 8, 2, 8, "hamming", False)),
    "stft_istft_round_trip": (lambda x: ops.istft(ops.stft(x, 8, 4, 8), 8, 4, 8), [SIGNAL.repeat(3, axis=1)],
                              SIGNAL.repeat(3, axis=1)),
    "rsqrt": (ops.rsqrt, [np.abs(DATA) + 0.1], 1 / np.sqrt(np.abs(DATA) + 0.1)),
}
COMPLEX_RESULTS = {"fft", "fft2_ifft2", "rfft"}


def _as_pairs(value):
    if isinstance(value, tuple):
        return tuple(_as_pairs(v) for v in value)
    return (np.real(value).astype("float32"), np.imag(value).astype("float32"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_linalg_and_math_ops_match_numpy(name):
    op, args, expected = CASES[name]
    if name in COMPLEX_RESULTS:
        expected = _as_pairs(expected)
    check(op, args, expected, rtol=1e-5, atol=1e-5)


def test_factorizations_reconstruct_their_input():
    x = th.dmatrix("x")
    u, s, vh = ops.svd(x, full_matrices=False)
    q, r = ops.qr(x)
    w, v = ops.eigh(th.dot(x.T, x))
    f = th.function([x], [u, s, vh, q, r, w, v])
    u, s, vh, q, r, w, v = f(R)
    assert_close(u * s @ vh, R, 1e-10, 1e-10)
    assert_close(q @ r, R, 1e-10, 1e-10)
    assert_close(v * w @ v.T, R.T @ R, 1e-10, 1e-10)
    assert ops.qr(R, mode="complete")[0].shape == (4, 4) and ops.svd(R)[0].shape == (4, 4)


def _spd(x):
    return ops.matmul(x, ops.swapaxes(x, -1, -2)) + 3.0 * ops.eye(3, dtype=x.dtype)


@pytest.mark.parametrize(
    "fn, values",
    [
        (ops.inv, [A]), (ops.det, [A]), (lambda a: ops.slogdet(a)[1], [A]), (ops.solve, [A, B]),
        (lambda a, b: ops.solve_triangular(a, b, lower=True), [LOWER, B[..., 0]]),
        (lambda x: ops.cholesky(_spd(x)), [A]), (lambda x: ops.cholesky_inverse(ops.cholesky(_spd(x))), [A]),
        (lambda x: ops.eigh(_spd(x))[0], [A]), (lambda x: ops.logdet(_spd(x)), [A]),
        (lambda d: ops.segment_sum(d, IDS, 4), [DATA.astype("float64")]),
        (lambda d: ops.segment_max(d, np.array([0, 1, 0, 2, 1]), 3), [DATA.astype("float64")]),
        (lambda r, i: ops.fft((r, i))[0] + ops.fft2((i, r))[1], [SIGNAL.astype("float64"), IMAG.astype("float64")]),
        (lambda x: ops.rfft(x, 6)[1], [SIGNAL.astype("float64")]),
        (lambda x: ops.stft(x, 4, 2, 6)[0], [SIGNAL.astype("float64")]),
    ],
)
def test_linalg_and_math_gradients_by_finite_differences(fn, values):
    th.verify_grad(lambda *xs: ops.sum(ops.sin(fn(*xs))), values, rng=RNG)


def test_ops_without_gradients_say_so():
    x = th.dmatrix("x")
    with pytest.raises(NotImplementedError, match="svd has no gradient"):
        th.grad(ops.sum(ops.svd(x, compute_uv=False)), x)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.inv(R), ValueError, "expected square matrices"),
        (lambda: ops.det(R[0]), ValueError, "expected a matrix"),
        (lambda: ops.solve(A, A[0, 0, 0]), ValueError, "b must have rank 3 or 2"),
        (lambda: ops.qr(R, mode="r"), ValueError, "mode must be 'reduced' or 'complete'"),
        (lambda: ops.inv(np.zeros((2, 2))), np.linalg.LinAlgError, r"inv of input\(s\) of shape \(2, 2\)"),
        (lambda: ops.segment_sum(DATA, th.lvector()), ValueError, "num_segments is required"),
        (lambda: ops.fft(SIGNAL), ValueError, "must be a pair"),
        (lambda: ops.fft((SIGNAL, IMAG[:1])), ValueError, "the real and imaginary parts differ"),
        (lambda: ops.stft(SIGNAL, 8, 2, 4), ValueError, "fft_length must be >= sequence_length"),
        (lambda: ops.stft(SIGNAL, 4, 2, 4, window="box"), ValueError, "window must be 'hann'"),
    ],
)
def test_linalg_and_math_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

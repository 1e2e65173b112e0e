"""keras.ops NumPy-like functions, eager and compiled, against NumPy itself."""

import numpy as np
import pytest
import scipy.special
from keras_ops_check import check

import theanine as th
from theanine.frontend import ops

RNG = np.random.default_rng(2)
M = RNG.normal(size=(3, 4)).astype("float32")
N = RNG.normal(size=(3, 4)).astype("float32")
T = RNG.normal(size=(2, 3, 4)).astype("float32")
I = np.array([12, -9, 7, 0, 30])
J = np.array([8, 6, 3, 5, 4])
NANS = np.array([[1.0, np.nan, 3.0, -2.0], [np.nan, np.nan, np.nan, np.nan], [0.5, 4.0, np.nan, 2.0]])
SPECIAL = np.array([-np.inf, -1.5, -0.0, 0.0, 2.5, np.inf, np.nan], "float32")

CASES = {
    "allclose": (lambda a, b: ops.allclose(a, b, atol=1e-3), [M, M + 1e-4], np.bool_(True)),
    "angle": (ops.angle, [M], np.angle(M)),
    "array_split": (lambda x: ops.array_split(x, 3, axis=1), [M], np.array_split(M, 3, axis=1)),
    "bincount": (lambda x, w: ops.bincount(x, w, minlength=6), [np.array([0, 2, 2, 4]), M[0]],
                 np.bincount([0, 2, 2, 4], M[0], minlength=6).astype("float32")),
    "bincount_rows": (lambda x: ops.bincount(x), [np.array([[0, 1], [3, 3]])], np.array([[1, 1, 0, 0], [0, 0, 0, 2]])),
    "bitwise_invert": (ops.bitwise_invert, [I], np.invert(I)),
    "left_shift": (ops.left_shift, [I, np.array([1, 2, 0, 3, 1])], np.left_shift(I, [1, 2, 0, 3, 1])),
    "right_shift": (ops.bitwise_right_shift, [I, np.array([1, 2, 0, 3, 1])], np.right_shift(I, [1, 2, 0, 3, 1])),
    "cbrt": (ops.cbrt, [M], np.cbrt(M)),
    "corrcoef": (ops.corrcoef, [M], np.corrcoef(M)),
    "correlate_same": (lambda a, v: ops.correlate(a, v, "same"), [M[0], N[1, :3]],
                       np.correlate(M[0], N[1, :3], "same")),
    "deg2rad_rad2deg": (lambda x: (ops.deg2rad(x), ops.rad2deg(x)), [M], (np.deg2rad(M), np.rad2deg(M))),
    "diagflat": (lambda x: ops.diagflat(x, 1), [M[:2, :2]], np.diagflat(M[:2, :2], 1)),
    "digitize": (lambda x, b: ops.digitize(x, b), [M, np.array([-1.0, 0.0, 0.5], "float32")],
                 np.digitize(M, [-1.0, 0.0, 0.5])),
    "dsplit_dstack": (lambda x: ops.dstack(ops.dsplit(x, 2)[::-1]), [T], np.dstack(np.dsplit(T, 2)[::-1])),
    "hsplit_vsplit": (lambda x: (ops.hsplit(x, 2), ops.vsplit(x, [1])), [M], (np.hsplit(M, 2), np.vsplit(M, [1]))),
    "empty_like": (lambda x: ops.empty_like(x, "int32"), [M], np.zeros((3, 4), "int32")),
    "fabs": (ops.fabs, [I], np.fabs(I).astype("float32")),
    "flips": (lambda x: (ops.fliplr(x), ops.flipud(x)), [M], (np.fliplr(M), np.flipud(M))),
    "fmax_fmin": (lambda a, b: (ops.fmax(a, b), ops.fmin(a, b)), [SPECIAL, SPECIAL[::-1].copy()],
                  (np.fmax(SPECIAL, SPECIAL[::-1]), np.fmin(SPECIAL, SPECIAL[::-1]))),
    "fmod": (ops.fmod, [M * 5, N], np.fmod(M * 5, N)),
    "fmod_int": (ops.fmod, [I, J], np.fmod(I, J)),
    "gcd_lcm": (lambda a, b: (ops.gcd(a, b), ops.lcm(a, b)), [I, J], (np.gcd(I, J), np.lcm(I, J))),
    "geomspace": (lambda: ops.geomspace(2.0, 250.0, 4), [], np.geomspace(2.0, 250.0, 4).astype("float32")),
    "windows": (lambda: (ops.bartlett(6), ops.blackman(6), ops.hamming(5), ops.hanning(5), ops.kaiser(6, 3.0)), [],
                tuple(w.astype("float32") for w in (np.bartlett(6), np.blackman(6), np.hamming(5), np.hanning(5),
                                                      np.kaiser(6, 3.0)))),
    "heaviside": (lambda x: ops.heaviside(x, 0.5), [SPECIAL[:6]], np.heaviside(SPECIAL[:6], np.float32(0.5))),
    "histogram": (lambda x: ops.histogram(x, bins=4), [M.ravel().astype("float64")],
                  np.histogram(M.ravel().astype("float64"), bins=4)),
    "hypot": (ops.hypot, [M, N], np.hypot(M, N)),
    "i0": (ops.i0, [M], np.i0(M).astype("float32")),
    "inner": (ops.inner, [T, M], np.inner(T, M)),
    "isin": (lambda a, b: (ops.isin(a, b), ops.isin(a, b, invert=True)), [I, J], (np.isin(I, J), ~np.isin(I, J))),
    "isneginf_isposinf_isreal": (lambda x: (ops.isneginf(x), ops.isposinf(x), ops.isreal(x)), [SPECIAL],
                                 (np.isneginf(SPECIAL), np.isposinf(SPECIAL), np.isreal(SPECIAL))),
    "kron": (ops.kron, [M[:2, :3], N[:, :2]], np.kron(M[:2, :3], N[:, :2])),
    "ldexp": (ops.ldexp, [M, np.array([1, -2, 3, 0])], np.ldexp(M, np.array([1, -2, 3, 0])).astype("float32")),
    "logaddexp2": (ops.logaddexp2, [M * 100, N], np.logaddexp2(M * 100, N)),
    "nan_reductions": (lambda x: (ops.nansum(x, 1), ops.nanprod(x, 0), ops.nanmean(x[::2], 1), ops.nanvar(x[::2], 1),
                                  ops.nanstd(x[::2]), ops.nanmax(x, 1), ops.nanmin(x, 1, keepdims=True)), [NANS],
                       (np.nansum(NANS, 1), np.nanprod(NANS, 0), np.nanmean(NANS[::2], 1), np.nanvar(NANS[::2], 1),
                        np.nanstd(NANS[::2]), np.fmax.reduce(NANS, 1), np.fmin.reduce(NANS, 1, keepdims=True))),
    "nan_arg": (lambda x: (ops.nanargmax(x[::2], 1), ops.nanargmin(x[::2], 1)), [NANS],
                (np.nanargmax(NANS[::2], 1), np.nanargmin(NANS[::2], 1))),
    "nan_cumulative": (lambda x: (ops.nancumsum(x, 1), ops.nancumprod(x, 0)), [NANS],
                       (np.nancumsum(NANS, 1), np.nancumprod(NANS, 0))),
    "nan_quantiles": (lambda x: (ops.nanquantile(x[::2], [0.1, 0.8], axis=1), ops.nanmedian(x[::2]),
                                 ops.nanpercentile(x[::2], 30.0, axis=0, keepdims=True)), [NANS],
                      (np.nanquantile(NANS[::2], [0.1, 0.8], axis=1), np.nanmedian(NANS[::2]),
                       np.nanpercentile(NANS[::2], 30.0, axis=0, keepdims=True))),
    "nextafter": (ops.nextafter, [M, N], np.nextafter(M, N)),
    "nonzero": (ops.nonzero, [np.array([[0, 3, 0], [1, 0, 2]])], np.nonzero(np.array([[0, 3, 0], [1, 0, 2]]))),
    "percentile": (lambda x: ops.percentile(x, [25.0, 50.0], axis=1), [M], np.percentile(M, [25.0, 50.0], axis=1)),
    "ptp": (lambda x: ops.ptp(x, axis=0), [M], np.ptp(M, axis=0)),
    "rot90": (lambda x: (ops.rot90(x), ops.rot90(x, 2, (1, 2)), ops.rot90(x, -1, (2, 0))), [T],
              (np.rot90(T), np.rot90(T, 2, (1, 2)), np.rot90(T, -1, (2, 0)))),
    "searchsorted": (lambda s, v: (ops.searchsorted(s, v), ops.searchsorted(s, v, side="right")),
                     [np.array([1.0, 2.0, 2.0, 5.0]), np.array([[2.0, 0.0], [6.0, 5.0]])],
                     (np.searchsorted([1, 2, 2, 5], [[2, 0], [6, 5]]),
                      np.searchsorted([1, 2, 2, 5], [[2, 0], [6, 5]], side="right"))),
    "select": (lambda x: ops.select([ops.less(x, -0.5), ops.greater(x, 0.5)], [x * 2, -x], 7.0), [M],
               np.select([M < -0.5, M > 0.5], [M * 2, -M], 7.0).astype("float32")),
    "signbit": (ops.signbit, [SPECIAL], np.signbit(SPECIAL)),
    "sinc": (ops.sinc, [np.array([0.0, 0.5, -1.5], "float32")], np.sinc(np.array([0.0, 0.5, -1.5], "float32"))),
    "trapezoid": (lambda y, x: (ops.trapezoid(y), ops.trapezoid(y, x, axis=1), ops.trapezoid(y, dx=0.5, axis=0)),
                  [M, np.array([0.0, 0.5, 2.0, 2.5], "float32")],
                  (np.trapezoid(M), np.trapezoid(M, [0.0, 0.5, 2.0, 2.5], axis=1), np.trapezoid(M, dx=0.5, axis=0))),
    "trunc": (lambda x, i: (ops.trunc(x * 3), ops.trunc(i)), [M, I], (np.trunc(M * 3), I)),
    "unravel_index": (lambda i: ops.unravel_index(i, (3, 4, 5)), [np.array([0, 17, 59])],
                      np.unravel_index([0, 17, 59], (3, 4, 5))),
    "vander": (lambda x: (ops.vander(x), ops.vander(x, 2, increasing=True)), [M[0]],
               (np.vander(M[0]), np.vander(M[0], 2, increasing=True))),
    "erfinv": (ops.erfinv, [np.array([-0.9, 0.0, 0.3], "float32")],
               scipy.special.erfinv(np.array([-0.9, 0.0, 0.3], "float32"))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_like_op_matches_numpy(name):
    op, args, expected = CASES[name]
    check(op, args, expected, rtol=1e-5, atol=1e-6)


def test_argpartition_partitions_around_kth():
    x = RNG.normal(size=(3, 7))
    for result in (ops.argpartition(x, 3), th.function([], ops.argpartition(th.constant(x), 3))()):
        parted = np.take_along_axis(x, result, -1)
        assert np.all(parted[:, :3] <= parted[:, 3:4]) and np.all(parted[:, 4:] >= parted[:, 3:4])


@pytest.mark.parametrize(
    "fn, value",
    [
        (ops.cbrt, M + 2.0), (ops.hypot, M), (lambda x: ops.fmod(x, 0.7), M + 2.0), (ops.erfinv, M * 0.3),
        (ops.i0, M), (ops.sinc, M + 0.1), (lambda x: ops.logaddexp2(x, 1.0 - x), M),
        (lambda x: ops.nanmean(x, axis=1), M), (lambda x: ops.kron(x, x[:2]), M),
        (lambda x: ops.trapezoid(x, axis=0), M), (lambda x: ops.bincount(np.array([1, 0, 1]), x[0, :3]), M),
    ],
)
def test_numpy_like_gradients_by_finite_differences(fn, value):
    arguments = [value.astype("float64")] if fn is not ops.hypot else [value.astype("float64"), N.astype("float64")]
    th.verify_grad(lambda *xs: ops.sum(ops.sin(fn(*xs))), arguments, rng=RNG)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ops.searchsorted(M, M[0]), ValueError, "sorted_sequence must be a vector"),
        (lambda: ops.searchsorted(M[0], M[0], side="middle"), ValueError, "side must be 'left' or 'right'"),
        (lambda: ops.hsplit(M, 3), ValueError, "does not split into 3 equal sections"),
        (lambda: ops.correlate(M, M), ValueError, "two vectors"),
        (lambda: ops.select([M > 0], []), ValueError, "same length"),
        (lambda: ops.rot90(M, axes=(1, 1)), ValueError, "the axes must differ"),
        (lambda: ops.percentile(M, 5.0, method="nearest"), ValueError, "only method='linear'"),
        (lambda: ops.bincount(np.array([1, -1])), ValueError, "must be non-negative"),
        (lambda: ops.bincount(M), TypeError, "integer tensor"),
        (lambda: ops.histogram(M[0], bins=0), ValueError, "bins must be a positive int"),
    ],
)
def test_numpy_like_ops_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

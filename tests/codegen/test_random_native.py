"""Random draws compile to native Philox kernels that reproduce ``perform`` bit for bit.

Each case compiles one function whose size is symbolic, under the llvm
backend (two threads, so 70001 values are split across them) and the numpy
backend from the same seed, then calls both twice for several sizes: the
draws and the advanced states must be identical.  Normal draws use float64
log/sin/cos, so those agree to within a few ulps (float32 rounding almost
always hides the difference).  No random node may remain a host call.
"""

import numpy as np
import pytest

import theanine as th
from theanine.frontend import layers

SIZES = (0, 1, 7, 4099, 70001)


NATIVE = "backend llvm: 0 Python fallback(s)"


def compiled_pair(make, inputs_of=lambda: []):
    """(llvm function, numpy function, llvm stream, numpy stream) for the draw ``make(rng, *inputs)``."""
    result = []
    for backend in ("llvm", "numpy"):
        rng = th.random.RandomStream(2024)
        inputs = inputs_of()
        with th.config.context(num_threads=2):
            result.append((th.function(inputs, make(rng, *inputs), backend=backend), rng))
    (native, native_rng), (reference, reference_rng) = result
    return native, reference, native_rng, reference_rng


def states(rng) -> list[np.ndarray]:
    return [s.get_value() for s in rng.states]


def scalar(name):
    return th.tensor(name, "int64", ())


EXACT = [
    ("uniform_float32", lambda r, n: r.uniform((n,), -2.0, 3.0, dtype="float32")),
    ("uniform_float64", lambda r, n: r.uniform((n,), -2.0, 3.0, dtype="float64")),
    ("uniform_default", lambda r, n: r.uniform((n,), dtype="float32")),
    ("uniform_float16", lambda r, n: r.uniform((n,), -2.0, 3.0, dtype="float16")),
    ("bernoulli_float32", lambda r, n: r.bernoulli((n,), 0.3, dtype="float32")),
    ("bernoulli_float64", lambda r, n: r.bernoulli((n,), 0.7, dtype="float64")),
    ("bernoulli_int8", lambda r, n: r.bernoulli((n,), 0.5, dtype="int8")),
    ("bernoulli_bool", lambda r, n: r.bernoulli((n,), 0.25, dtype="bool")),
    ("integers_int64", lambda r, n: r.integers(-5, 1000, (n,), dtype="int64")),
    ("integers_int32_wide", lambda r, n: r.integers(-(2**62), 2**62, (n,), dtype="int32")),
    ("integers_uint8", lambda r, n: r.integers(0, 256, (n,), dtype="uint8")),
    ("integers_int16", lambda r, n: r.integers(-300, 300, (n,), dtype="int16")),
]


@pytest.mark.parametrize("make", [c[1] for c in EXACT], ids=[c[0] for c in EXACT])
def test_draws_match_numpy_bit_for_bit(make):
    native, reference, native_rng, reference_rng = compiled_pair(make, lambda: [scalar("n")])
    assert NATIVE in native.explain()
    for size in SIZES:
        for _ in range(2):
            got, expected = native(size), reference(size)
            assert got.dtype == expected.dtype and got.shape == (size,)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(states(native_rng), states(reference_rng))
    assert not np.array_equal(states(native_rng)[0][2:], np.zeros(4, "uint32"))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_normal_draws_match_numpy_within_ulps(dtype):
    """float64 log/sin/cos differ from NumPy's libm in the last bits: within 4 ulps of the
    standard normal value (absolute near its zeros), so of ``mean + std * z`` after scaling."""
    eps = np.finfo(dtype).eps
    native, reference, native_rng, reference_rng = compiled_pair(
        lambda r, n: r.normal((n,), 0.5, 2.0, dtype=dtype), lambda: [scalar("n")]
    )
    for size in SIZES:
        for _ in range(2):
            got, expected = native(size), reference(size)
            assert got.dtype == expected.dtype and got.shape == (size,)
            np.testing.assert_allclose(got, expected, rtol=4 * eps, atol=4 * eps * 2.0)
            np.testing.assert_array_equal(states(native_rng), states(reference_rng))
    assert np.std(native(20000).astype("float64")) == pytest.approx(2.0, rel=0.05)


def test_multidimensional_sizes_with_broadcast_parameters():
    """Parameters of several shapes broadcast along a size read from an input's shape."""

    def make(r, x, low):
        size = (x.shape[0], 3, x.shape[1])
        return [r.uniform(size, low, np.array([[1.5], [2.0], [3.0]]), dtype="float64"),
                r.integers(th.cast(low * 10, "int64"), 100, size[1:], dtype="int32"),
                r.bernoulli((2, 3), [0.1, 0.5, 0.9], dtype="float32"),
                r.normal(size, low, 1.0, dtype="float32")]

    def inputs():
        return [th.tensor("x", "float64", (None, None)), th.tensor("low", "float64", (None,))]

    native, reference, native_rng, reference_rng = compiled_pair(make, inputs)
    assert NATIVE in native.explain()
    for rows, columns in [(4, 5), (0, 2), (1, 1)]:
        x, low = np.zeros((rows, columns)), np.linspace(-1.0, 1.0, columns)
        for got, expected in zip(native(x, low), reference(x, low), strict=True):
            assert got.shape == expected.shape
            np.testing.assert_array_max_ulp(got, expected, maxulp=1)
        np.testing.assert_array_equal(states(native_rng), states(reference_rng))


def test_distinct_draws_are_not_merged():
    native, reference, _, _ = compiled_pair(lambda r: [r.uniform((5,)), r.uniform((5,)), r.uniform((5,)) * 1.0])
    got, expected = native(), reference()
    assert NATIVE in native.explain()
    assert not np.array_equal(got[0], got[1])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_invalid_parameters_raise_numpys_error():
    low, high, n = scalar("low"), scalar("high"), scalar("n")
    rng = th.random.RandomStream(3)
    draw = th.function([low, high, n], rng.integers(low, high, (n,)), backend="llvm")
    vector = th.tensor("v", "int64", (None,))
    vector_draw = th.function([vector], rng.integers(vector, 10, (2, 3)), backend="llvm")
    uniform = th.function([n], rng.uniform((n, 2)), backend="llvm")
    assert NATIVE in draw.explain() and NATIVE in vector_draw.explain()
    with pytest.raises(ValueError, match=r"high must be greater than low.*test_random_native.py"):
        draw(5, 5, 3)
    assert draw(5, 5, 0).shape == (0,)
    assert np.all((draw(-3, -1, 100) >= -3) & (draw(-3, -1, 100) < -1))
    with pytest.raises(ValueError, match="high must be greater than low"):
        vector_draw(np.array([0, 10, 2]))
    with pytest.raises(ValueError, match="size must be non-negative"):
        uniform(-2)


def test_dropout_and_training_have_no_python_fallbacks():
    x = th.tensor("x", "float32", (None, 8))
    dropped = layers.Dropout(0.5, seed=1)(x, training=True)
    f = th.function([x], dropped, backend="llvm")
    assert NATIVE in f.explain()
    out = f(np.ones((4, 8), "float32"))
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < np.count_nonzero(out) < 32


ORDERED = [
    ("permutation", lambda r, n: r.permutation(n), [0, 1, 2, 5, 4099, 70001]),
    ("choice_from_range", lambda r, n: r.choice(n, (9,)), [1, 5, 1000]),
    ("choice_without_replacement", lambda r, n: r.choice(n, (4,), replace=False), [4, 5, 1000]),
]


@pytest.mark.parametrize("make, sizes", [c[1:] for c in ORDERED], ids=[c[0] for c in ORDERED])
def test_permutations_and_choices_match_numpy_bit_for_bit(make, sizes):
    """Merge-sorted random keys (a stable argsort) reproduce ``perform``'s permutation exactly."""
    native, reference, native_rng, reference_rng = compiled_pair(make, lambda: [scalar("n")])
    assert NATIVE in native.explain()
    for size in sizes:
        for _ in range(2):
            got, expected = native(size), reference(size)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(states(native_rng), states(reference_rng))


def test_permutation_is_a_permutation():
    native, _, _, _ = compiled_pair(lambda r, n: r.permutation(n), lambda: [scalar("n")])
    drawn = native(70001)
    np.testing.assert_array_equal(np.sort(drawn), np.arange(70001))
    assert not np.array_equal(drawn, np.arange(70001))


@pytest.mark.parametrize("p", [[0.1, 0.0, 0.5, 0.4], [1.0], [0.2, np.nan, 0.3], [3.0, 1.0, 0.0]])
def test_weighted_choice_matches_numpy(p):
    """The cumulative sum and one binary search per draw, NaN weights included."""
    native, reference, native_rng, reference_rng = compiled_pair(
        lambda r, weights: r.choice(weights.shape[0], (2000,), p=weights),
        lambda: [th.tensor("p", "float64", (None,))],
    )
    assert NATIVE in native.explain()
    for _ in range(2):
        np.testing.assert_array_equal(native(np.array(p)), reference(np.array(p)))
        np.testing.assert_array_equal(states(native_rng), states(reference_rng))


def test_choice_gathers_from_an_array_population():
    population = np.arange(5, dtype="float32") * 1.5
    native, reference, _, _ = compiled_pair(
        lambda r, a: [r.choice(a, (3, 7)), r.choice(a, (5,), replace=False)],
        lambda: [th.tensor("a", "float32", (None,))],
    )
    assert NATIVE in native.explain()
    with_replacement, without = native(population)
    for got, expected in zip((with_replacement, without), reference(population), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert with_replacement.shape == (3, 7) and set(with_replacement.ravel()) <= set(population)
    np.testing.assert_array_equal(np.sort(without), population)


@pytest.mark.parametrize("draw, args, message", [
    (lambda r, n, p: r.permutation(n), (-1, None), "size must be non-negative"),
    (lambda r, n, p: r.choice(n, (4,), replace=False), (3, None), "cannot take 4 of 3 elements"),
    (lambda r, n, p: r.choice(n, (4,)), (0, None), "cannot choose from an empty population"),
    (lambda r, n, p: r.choice(n, (4,), p=p), (3, np.ones(2)), "p has 2 entries for a population of 3"),
])
def test_invalid_choices_raise_and_leave_the_state(draw, args, message):
    rng = th.random.RandomStream(1)
    n, p = scalar("n"), th.tensor("p", "float64", (None,))
    inputs = [n] if args[1] is None else [n, p]
    f = th.function(inputs, draw(rng, n, p), backend="llvm")
    assert NATIVE in f.explain()
    before = states(rng)
    with pytest.raises(ValueError, match=message + r".*test_random_native.py"):
        f(*args[:len(inputs)])
    for old, new in zip(before, states(rng), strict=True):
        np.testing.assert_array_equal(old, new)

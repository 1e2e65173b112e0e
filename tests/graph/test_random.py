"""Random streams: Philox known answers, the documented bit-to-value mappings
(checked against a pure-Python Philox written here), moments, determinism
across calls and processes, symbolic sizes, and errors."""

import math
import subprocess
import sys

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops.random import RandomOp, philox4x32, random_words, stream_key

MASK = 0xFFFFFFFF


def philox_reference(counter, key):
    """Philox4x32-10 on Python ints, straight from Salmon et al. (SC'11)."""
    c, (k0, k1) = list(counter), key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & MASK, (p0 >> 32) ^ c[3] ^ k1, p0 & MASK]
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return c


def reference_words(seed, index, n_words, first_block=0):
    """The words a stream's ``index``-th variable draws first, by the module docstring's rules."""
    key = [int(w) for w in stream_key(seed, index)]
    words = []
    for block in range(first_block, first_block + -(-n_words // 4)):
        words += philox_reference([block & MASK, block >> 32, 0, 0], key)
    return words[:n_words]


KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK,) * 4, (MASK, MASK), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_known_answer_vectors(counter, key, expected):
    got = philox4x32(np.array([counter], dtype=np.uint32), key)[0]
    assert [int(w) for w in got] == list(expected)
    assert philox_reference(counter, key) == list(expected)


def test_counter_is_128_bit_with_carry():
    state = np.array([7, 9, MASK, MASK, 5, 0], dtype=np.uint32)
    words, new_state = random_words(state, 6)
    expected = philox_reference([MASK, MASK, 5, 0], (7, 9)) + philox_reference([0, 0, 6, 0], (7, 9))[:2]
    assert [int(w) for w in words] == expected
    assert new_state.tolist() == [7, 9, 1, 0, 6, 0]


def _draw(make, seed=3):
    """First value array of the variable ``make(rng)`` of a fresh stream, and the stream."""
    rng = th.random.RandomStream(seed)
    out = make(rng)
    return th.function([], out)(), rng


def test_uniform_float32_uses_the_top_24_bits():
    got, _ = _draw(lambda r: r.uniform((5,), low=-1.0, high=3.0, dtype="float32"))
    u = np.array([(w >> 8) * 2.0**-24 for w in reference_words(3, 0, 5)], dtype="float32")
    np.testing.assert_array_equal(got, np.float32(-1.0) + np.float32(4.0) * u)
    assert got.dtype == "float32"


def test_uniform_float64_uses_53_bits_of_two_words():
    got, _ = _draw(lambda r: r.uniform((3,), dtype="float64"))
    w = reference_words(3, 0, 6)
    expected = [((w[2 * i] >> 5) * 2**26 + (w[2 * i + 1] >> 6)) / 2**53 for i in range(3)]
    np.testing.assert_array_equal(got, expected)


def test_normal_is_box_muller_on_documented_uniforms():
    got32, _ = _draw(lambda r: r.normal((3,), mean=1.0, std=2.0, dtype="float32"))
    w = reference_words(3, 0, 4)
    z = []
    for j in range(2):
        u1 = (w[2 * j] >> 8) * 2.0**-24 + 2.0**-24
        u2 = (w[2 * j + 1] >> 8) * 2.0**-24
        radius = math.sqrt(-2 * math.log(u1))
        z += [radius * math.cos(2 * math.pi * u2), radius * math.sin(2 * math.pi * u2)]
    expected = np.float32(1.0) + np.float32(2.0) * np.array(z[:3], dtype="float32")
    np.testing.assert_allclose(got32, expected, rtol=1e-6)
    got64, _ = _draw(lambda r: r.normal((2,), dtype="float64"))
    w = reference_words(3, 0, 4)
    u1 = ((w[0] >> 5) * 2**26 + (w[1] >> 6) + 1) / 2**53
    u2 = ((w[2] >> 5) * 2**26 + (w[3] >> 6)) / 2**53
    radius = math.sqrt(-2 * math.log(u1))
    np.testing.assert_allclose(got64, [radius * math.cos(2 * math.pi * u2), radius * math.sin(2 * math.pi * u2)],
                               rtol=1e-14)


def test_bernoulli_integers_permutation_follow_the_documented_mappings():
    got, _ = _draw(lambda r: r.bernoulli((6,), p=0.4, dtype="int8"))
    assert got.tolist() == [int(w / 2**32 < 0.4) for w in reference_words(3, 0, 6)]
    got, _ = _draw(lambda r: r.integers(-5, 2**40, size=(4,)))
    w = reference_words(3, 0, 8)
    span = 2**40 + 5
    assert got.tolist() == [-5 + (((w[2 * i] + (w[2 * i + 1] << 32)) * span) >> 64) for i in range(4)]
    got, _ = _draw(lambda r: r.permutation(5))
    w = reference_words(3, 0, 10)
    keys = [w[2 * i] + (w[2 * i + 1] << 32) for i in range(5)]
    assert got.tolist() == sorted(range(5), key=lambda i: keys[i])


def test_moments_are_within_tolerance():
    rng = th.random.RandomStream(2024)
    n = 40_000
    draws = th.function([], [
        rng.uniform((n,), low=2.0, high=4.0, dtype="float64"),
        rng.normal((n,), mean=-1.0, std=3.0, dtype="float32"),
        rng.bernoulli((n,), p=0.25, dtype="float64"),
        rng.integers(0, 10, size=(n,)),
        rng.choice(4, size=(n,), p=np.array([0.1, 0.2, 0.3, 0.4])),
    ])()
    uniform, normal, bernoulli, integers, weighted = draws
    sigma = 1 / math.sqrt(n)
    assert uniform.min() >= 2.0 and uniform.max() < 4.0
    assert abs(uniform.mean() - 3.0) < 5 * sigma and abs(uniform.var() - 1 / 3) < 0.01
    assert abs(normal.mean() + 1.0) < 5 * 3 * sigma and abs(normal.std() - 3.0) < 0.05
    assert abs(np.mean((normal + 1) ** 4) / 81 - 3.0) < 0.15
    assert abs(bernoulli.mean() - 0.25) < 5 * sigma
    assert integers.min() == 0 and integers.max() == 9 and abs(integers.mean() - 4.5) < 0.05
    np.testing.assert_allclose(np.bincount(weighted) / n, [0.1, 0.2, 0.3, 0.4], atol=0.015)


def test_calls_advance_the_state_and_seeds_reproduce():
    rng = th.random.RandomStream(7)
    f = th.function([], rng.uniform((4,), dtype="float64"))
    first, second = f(), f()
    assert not np.array_equal(first, second)
    assert rng.states[0].get_value()[2:].tolist() == [4, 0, 0, 0]  # 2 calls x 8 words = 4 blocks
    again = th.function([], th.random.RandomStream(7).uniform((4,), dtype="float64"))
    np.testing.assert_array_equal(again(), first)
    other = th.function([], th.random.RandomStream(8).uniform((4,), dtype="float64"))
    assert not np.array_equal(other(), first)


def test_variables_of_one_stream_are_independent():
    rng = th.random.RandomStream(1)
    a, b = rng.uniform((3,)), rng.uniform((3,))
    va, vb = th.function([], [a, b])()
    assert not np.array_equal(va, vb)
    assert rng.states[0] is not rng.states[1]


def test_same_seed_gives_same_numbers_in_a_new_process():
    code = (
        "import theanine as th; rng = th.random.RandomStream(99); "
        "f = th.function([], [rng.normal((3,), dtype='float64'), rng.integers(100, size=(3,))]); "
        "f(); print(repr([v.tolist() for v in f()]))"
    )
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rng = th.random.RandomStream(99)
    f = th.function([], [rng.normal((3,), dtype="float64"), rng.integers(100, size=(3,))])
    f()
    assert other_process.stdout == repr([v.tolist() for v in f()]) + "\n"


def test_set_seed_restarts_the_default_stream():
    with th.config.context(seed=None):
        th.set_seed(123)
        assert th.config.seed == 123
        first = th.function([], th.random.uniform((3,)))()
        th.set_seed(123)
        np.testing.assert_array_equal(th.function([], th.random.uniform((3,)))(), first)
        assert th.random.default_stream() is th.random.default_stream()
        with th.config.context(seed=5):
            assert th.random.default_stream().seed == 5
        assert th.random.default_stream().seed == 123


def test_reseed_resets_existing_states():
    rng = th.random.RandomStream(4)
    f = th.function([], rng.integers(1000, size=(5,)))
    first = f()
    f()
    rng.reseed(4)
    np.testing.assert_array_equal(f(), first)


def test_choice_without_replacement_and_from_an_array():
    rng = th.random.RandomStream(0)
    population = np.array([10.0, 20.0, 30.0, 40.0])
    picked, distinct = th.function([], [rng.choice(population, size=(2, 3)),
                                        rng.choice(6, size=(6,), replace=False)])()
    assert picked.dtype == "float64" and picked.shape == (2, 3) and set(picked.ravel()) <= set(population)
    assert sorted(distinct.tolist()) == list(range(6))


def test_symbolic_sizes_from_an_int_vector():
    size = th.vector("size", "int64", shape=(2,))
    sample = th.random.RandomStream(0).normal(size)
    assert sample.type.shape == (None, None)
    assert th.function([size], sample)(np.array([3, 2])).shape == (3, 2)


def test_sizes_from_int_scalars_keep_static_entries():
    n = th.scalar("n", "int32")
    sample = th.random.RandomStream(0).integers(10, size=(n, 3))
    assert sample.type.shape == (None, 3)
    assert th.function([n], sample)(4).shape == (4, 3)


def test_dropout_mask_with_the_shape_of_a_tensor():
    x = th.tensor("x", "float64", (None, 40))
    mask = th.random.RandomStream(0).bernoulli(x.shape, p=0.5, dtype="float64")
    assert mask.type.shape == (None, 40)
    node = mask.owner
    assert node.op.infer_shape(node, [(6,), (2,)])[1][1] == 40
    dropped = th.function([x], x * mask / 0.5)(np.ones((50, 40)))
    assert set(np.unique(dropped)) == {0.0, 2.0} and abs(dropped.mean() - 1.0) < 0.1


def test_parameters_broadcast_to_size():
    mean = th.vector("mean", "float64")
    sample = th.random.RandomStream(0).normal((2000, 3), mean=mean, std=0.1, dtype="float64")
    got = th.function([mean], sample)(np.array([0.0, 10.0, -5.0]))
    np.testing.assert_allclose(got.mean(axis=0), [0.0, 10.0, -5.0], atol=0.02)
    with pytest.raises(ValueError, match=r"parameter mean of shape \(4,\) does not broadcast to size=\(2, 3\)"):
        th.random.RandomStream(0).normal((2, 3), mean=np.zeros(4))


def test_random_ops_are_marked_nondeterministic_and_have_no_gradient():
    low = th.scalar("low", "float64")
    sample = th.random.RandomStream(0).uniform((3,), low=low, high=2.0, dtype="float64")
    assert isinstance(sample.owner.op, RandomOp) and sample.owner.op.deterministic is False
    with pytest.raises(th.DisconnectedInputError):
        th.grad(sample.sum(), low)


def test_errors_name_the_problem():
    rng = th.random.RandomStream(0)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\). Received: seed=-1"):
        th.random.RandomStream(-1)
    with pytest.raises(ValueError, match="non-negative ints"):
        rng.uniform((2, -1))
    with pytest.raises(TypeError, match="draws integers"):
        rng.integers(5, dtype="float32")
    with pytest.raises(NotImplementedError, match="only uniform probabilities"):
        rng.choice(5, size=(2,), replace=False, p=np.ones(5) / 5)
    bad = th.function([], rng.integers(5, 5, size=(2,)))
    with pytest.raises(ValueError, match="high must be greater than low"):
        bad()
    with pytest.raises(ValueError, match="config.seed must be None"):
        th.config.seed = "abc"


def test_binomial_counts_successes_of_n_trials():
    """Theano's ``RandomStreams.binomial`` (the scan tutorial's dropout mask)."""
    srng = th.random.RandomStream(3)
    counts = th.function([], srng.binomial((20000,), n=5, p=0.3))()
    assert counts.dtype == np.int64 and counts.min() >= 0 and counts.max() <= 5
    assert abs(counts.mean() - 1.5) < 0.05 and abs(counts.var() - 1.05) < 0.06
    w = th.matrix("w")
    mask = th.function([w], srng.binomial(size=w[1].shape, p=0.5))(np.ones((3, 4), "float32"))
    assert mask.shape == (4,) and set(np.unique(mask)) <= {0, 1}
    edges = th.function([], srng.binomial((4, 2), n=3, p=np.array([0.0, 1.0]), dtype="float32"))()
    assert edges.dtype == np.float32 and np.array_equal(edges, np.tile([0.0, 3.0], (4, 1)))
    with pytest.raises(TypeError, match="n must be a non-negative Python int"):
        srng.binomial((2,), n=2.5)

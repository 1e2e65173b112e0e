"""Bad values at call time of compiled functions: a clear error naming the node, never a crash.

Sizes computed from the inputs that cannot be allocated (negative, beyond
memory, beyond 64 bits) used to surface as NumPy's bare "negative
dimensions are not allowed" / "Unable to allocate" from the runner; they
now name the node that needed the storage and the user's line, on every
storage path (returned outputs, pooled temporaries, loop outputs), in the
reference's own words when it can be asked (a negative size).
"""

import numpy as np
import pytest

import theanine as th

THIS_FILE = __file__.rsplit("/", 1)[-1]


def _sized(kind: str):
    """A function of a size ``n`` whose storage is an output, a pooled temporary or a loop's."""
    n = th.lscalar("n")
    if kind == "output":
        return th.function([n], th.zeros((n, 3)) + 1.0)
    if kind == "temporary":
        return th.function([n], th.exp(th.zeros((n, 3)) + 1.0).sum())
    steps = th.scan(lambda a: a * 2, outputs_info=th.constant(np.float32(1)), n_steps=n)
    return th.function([n], steps[0] if isinstance(steps, tuple) else steps)


# The storage's own failure, or the reference's words for the node that sized it (BroadcastTo) when the
# failure path can recompute that node's inputs: one CI run of four under xdist gave the second for
# "temporary", which did not reproduce alone.
ALLOCATION = (r"cannot allocate an output of shape \(-2, 3\) and dtype float32 \(negative dimensions"
              r"|all elements of broadcast shape must be non-negative")


@pytest.mark.parametrize("kind, message", [
    ("output", ALLOCATION),
    ("temporary", ALLOCATION),
    ("loop", r"Scan\{scan\}: n_steps must be >= 0\. Received: n_steps=-2"),  # the reference's own words
])
def test_negative_size_names_the_node_and_the_line(kind, message):
    f = _sized(kind)
    with pytest.raises(ValueError, match=message) as info:
        f(-2)
    assert "while computing" in str(info.value) and THIS_FILE in str(info.value)


@pytest.mark.parametrize("kind", ["output", "temporary"])
@pytest.mark.parametrize("n, reason", [(10**13, "Unable to allocate"), (2**62, "does not fit in 64 bits")])
def test_impossible_size_is_a_memory_error_and_the_function_still_works(kind, n, reason):
    f = _sized(kind)
    with pytest.raises(MemoryError, match=reason) as info:
        f(n)
    assert f"shape ({n}, 3)" in str(info.value) and THIS_FILE in str(info.value)
    expected = np.ones((4, 3), "float32")
    np.testing.assert_allclose(f(4), expected if kind == "output" else np.exp(expected).sum(), rtol=1e-6)


def test_shared_variables_keep_their_values_when_a_call_fails():
    w = th.shared(np.ones(3, "float32"), name="w")
    v = th.shared(np.zeros(3, "float32"), name="v")
    i, n = th.lvector("i"), th.lscalar("n")
    f = th.function([i, n], th.zeros((n,)).sum(),
                    updates=[(v, v + 1), (w, th.set_subtensor(w[i], 5.0))])
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        f(np.array([5]), 2)
    with pytest.raises(ValueError, match="non-negative .*while computing BroadcastTo"):
        f(np.array([0]), -1)
    np.testing.assert_array_equal(w.get_value(), np.ones(3))
    np.testing.assert_array_equal(v.get_value(), np.zeros(3))
    f(np.array([0]), 2)
    np.testing.assert_array_equal(w.get_value(), [5, 1, 1])
    np.testing.assert_array_equal(v.get_value(), np.ones(3))


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint64"])
@pytest.mark.parametrize("n", [5, 1000])
def test_integer_division_by_zero_and_overflow_match_numpy_without_crashing(dtype, n):
    """NumPy's semantics (``perform`` is the specification): x // 0 and x % 0 are 0, MIN // -1
    wraps; native code must not trap (SIGFPE) on the scalar or the vector loop."""
    a, b = th.tensor("a", dtype=dtype, shape=(None,)), th.tensor("b", dtype=dtype, shape=(None,))
    f = th.function([a, b], [a // b, a % b])
    info = np.iinfo(dtype)
    av = np.resize(np.array([info.min, info.max, 7, 0, 1], dtype), n)
    bv = np.zeros(n, dtype)
    bv[1::2] = -1 if info.min < 0 else 1
    with np.errstate(all="ignore"):
        expected = [av // bv, av % bv]
    for got, want in zip(f(av, bv), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_inputs_must_come_in_a_list():
    x = th.vector("x")
    with pytest.raises(TypeError, match=r"function: the inputs must be given in a list, even when there is a single "
                                        r"input \(\[x\], not x\)\. Received: float32\(\?,\)"):
        th.function(x, x * 2)


@pytest.mark.parametrize("outputs, index", [(b"abc", 0), ([th.vector("y"), None], 1)])
def test_an_output_that_is_no_expression_is_named(outputs, index):
    with pytest.raises(TypeError, match=rf"function: output {index} is not an expression or a numeric value: "
                                        r"a constant must hold numbers or bools"):
        th.function([], outputs)

"""The inverse-CDF random ops (truncated normal, gamma, binomial; beta from gammas) and
``BitcastView``: documented mappings from the stream's words, backends agreeing, shapes, errors."""

import numpy as np
import pytest
import scipy.special

import theanine as th
from theanine.graph.ops import random_distributions as R
from theanine.graph.ops.bitcast import BitcastView, bitcast_view
from theanine.graph.ops.random import initial_state, random_words


def _uniforms(seed: int, n: int) -> np.ndarray:
    """The 53-bit uniforms the stream's first variable draws, as the module docstring maps them."""
    words, _ = random_words(initial_state(seed, 0), 2 * n)
    first, second = words[0::2] >> np.uint32(5), words[1::2] >> np.uint32(6)
    return (first.astype(np.float64) * 2.0**26 + second) * 2.0**-53 + 2.0**-54


LOW, HIGH = scipy.special.ndtr(-2.0), scipy.special.ndtr(2.0)


@pytest.mark.parametrize("draw, expected", [
    (lambda s: R.truncated_normal(s, (6,), 1.0, 2.0, "float64"),
     lambda u: 1.0 + 2.0 * scipy.special.ndtri(LOW + (HIGH - LOW) * u)),
    (lambda s: R.gamma(s, (6,), 2.5, "float64"), lambda u: scipy.special.gammaincinv(2.5, u)),
])
def test_draws_are_the_inverse_cdf_of_the_stream_uniforms(draw, expected):
    values = th.function([], draw(th.random.RandomStream(5)))()
    np.testing.assert_allclose(values, expected(_uniforms(5, 6)), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda s: R.truncated_normal(s, (50,)), lambda s: R.gamma(s, (50,), 0.7),
    lambda s: R.beta(s, (50,), 2.0, 3.0), lambda s: R.binomial(s, (50,), 7.0, 0.4),
])
def test_backends_agree_and_states_advance(make):
    compiled = th.function([], make(th.random.RandomStream(9)))
    reference = th.function([], make(th.random.RandomStream(9)), backend="numpy")
    first = compiled()
    np.testing.assert_array_equal(first, reference())
    assert not np.array_equal(first, compiled())


def test_binomial_matches_the_quantile_and_rejects_bad_parameters():
    u = _uniforms(3, 40)
    values = th.function([], R.binomial(th.random.RandomStream(3), (40,), 12.0, 0.35, "float64"))()
    cdf = scipy.special.bdtr(np.arange(13), 12, 0.35)
    np.testing.assert_array_equal(values, np.searchsorted(cdf, u))  # the smallest k with CDF(k) >= u
    with pytest.raises(ValueError, match="probabilities must lie in"):
        th.function([], R.binomial(th.random.RandomStream(1), (2,), 3.0, 1.5))()
    with pytest.raises(ValueError, match="alpha must be positive"):
        th.function([], R.gamma(th.random.RandomStream(1), (2,), -1.0))()


def test_bitcast_view_shapes_values_and_errors():
    x = th.ivector("x")
    halves = bitcast_view(x, "int16")
    assert halves.type.shape == (None,) and halves.dtype == "int16"
    data = np.array([1, -2, 70000], "int32")
    f = th.function([x], [halves, halves.shape[0]])
    values, length = f(data)
    np.testing.assert_array_equal(values, data.view("int16"))
    assert length == 6
    assert bitcast_view(x, "int32") is x
    assert bitcast_view(th.tensor(dtype="int16", shape=(3, 4)), "float64").type.shape == (3, 1)
    with pytest.raises(ValueError, match="does not split into float64 values"):
        bitcast_view(th.tensor(dtype="int16", shape=(3, 2)), "float64")
    with pytest.raises(ValueError, match="cannot be viewed as int16"):
        BitcastView("int16")(th.scalar("s", dtype="int32"))
    v = th.vector("v")
    with pytest.raises(th.DisconnectedInputError, match="does not depend on v"):  # reinterpreted bits carry no gradient
        th.grad(th.sum(th.cast(bitcast_view(v, "int32"), "float32")), v)

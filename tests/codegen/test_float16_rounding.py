"""float16 inside compiled kernels rounds where NumPy rounds: every cast and every op result.

The llvm backend computes float16 in float32 registers; without rounding
each result, ``cast(cast(x, "float16"), "float32")`` fused into one kernel
would return ``x`` unchanged and float16 chains would drift from NumPy's.
"""

import numpy as np
import pytest

import theanine as th


def llvm_and_numpy(inputs, output):
    return [th.function(inputs, output, backend=b) for b in ("llvm", "numpy")]


def assert_same_bits(got, expected):
    assert got.dtype == expected.dtype
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    assert np.all(same), f"{np.count_nonzero(~same)} values differ, e.g. {got[~same][:4]} vs {expected[~same][:4]}"


def half_midpoints() -> np.ndarray:
    """Every tie between adjacent finite float16 values, the float64 values beside them, negated too."""
    halves = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    ties = (halves[:-1] + halves[1:]) / 2
    near = np.concatenate([ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf), [65519.999, 65520.0]])
    return np.concatenate([near, -near, [np.inf, -np.inf, np.nan, -0.0, 2.0**-25, 2.0**-26]])


@pytest.mark.parametrize("source", ["float32", "float64"])
def test_a_cast_to_float16_rounds_inside_a_fused_kernel(source):
    x = th.tensor("x", source, (None,))
    native, reference = llvm_and_numpy([x], th.cast(th.cast(x, "float16"), source) * 1.0)
    values = half_midpoints().astype(source)
    assert_same_bits(native(values), reference(values))
    assert_same_bits(native(values), values.astype("float16").astype(source))


def test_integers_to_float16_round_and_overflow_like_numpy():
    i = th.tensor("i", "int64", (None,))
    native, _ = llvm_and_numpy([i], th.cast(th.cast(i, "float16"), "float32") + 0)
    values = np.array([0, 1, 2049, 2051, 65504, 65519, 65520, 70000, -70000, 2**40], "int64")
    with np.errstate(over="ignore"):
        assert_same_bits(native(values), values.astype("float16").astype("float32"))


def test_float16_chains_round_after_every_op():
    a, b, c = (th.tensor(name, "float16", (None,)) for name in "abc")
    native, reference = llvm_and_numpy([a, b, c], th.exp(a) * b + c / a - th.tanh(b) * (a + b))
    rng = np.random.default_rng(1)
    values = [rng.uniform(-3, 3, 50000).astype("float16") for _ in range(3)]
    assert "backend llvm: 0 Python fallback(s)" in native.explain()
    assert_same_bits(native(*values), reference(*values))


@pytest.mark.parametrize("product", ["matmul", "conv", "depthwise_conv", "conv_transpose"])
def test_float16_products_round_once_like_numpy(product):
    """NumPy's float16 matmul sums exact float32 products in float32 and rounds once; a kernel that
    rounded each product or partial sum to float16 drifted up to 3 ulps (the stabilize rewrite
    ``float16_products_in_float32`` computes them in float32)."""
    rng = np.random.default_rng(3)
    if product == "matmul":
        a, b = th.tensor("a", "float16", (None, 64)), th.tensor("b", "float16", (64, None))
        values = [rng.uniform(-1, 1, shape).astype("float16") for shape in ((30, 64), (64, 20))]
        out = th.matmul(a, b)
    else:
        depth = 1 if product == "depthwise_conv" else 8
        a, b = th.tensor("x", "float16", (2, 16, 8)), th.tensor("k", "float16", (5, depth, 8))
        values = [rng.uniform(-1, 1, v.type.shape).astype("float16") for v in (a, b)]
        out = {"conv": lambda: th.conv(a, b), "depthwise_conv": lambda: th.conv(a, b, groups=8),
               "conv_transpose": lambda: th.conv_transpose(a, b)}[product]()
    native, reference = llvm_and_numpy([a, b], out)
    assert native.rewrite_report.fired["float16_products_in_float32"] == 1
    assert_same_bits(native(*values), reference(*values))
    if product == "matmul":
        assert_same_bits(native(*values), np.matmul(*values))

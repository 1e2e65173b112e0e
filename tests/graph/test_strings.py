"""String tensors (object arrays of str) and ``th.strings``: values against Python's own string
functions under every backend (the llvm backend runs them as host calls), and the errors of ops
that cannot take strings."""

from __future__ import annotations

import re

import numpy as np
import pytest

import theanine as th

WORDS = np.array(["Monday", "tuesday", "", "naïve café", "o-n--x", "a b  c "], dtype=object)
SUFFIX = np.array([".com"], dtype=object)


def _strings(name, shape=(None,)):
    return th.tensor.TensorType("string", shape)(name)


def _python(fn, *arrays, otype=object):
    return np.vectorize(fn, otypes=[otype])(*arrays)


ELEMENTWISE = [
    ("concat", lambda x, y: th.strings.concat(x, y), lambda a, b: _python(lambda s, t: s + t, a, b)),
    ("upper", lambda x, y: th.strings.upper(x), lambda a, b: _python(str.upper, a)),
    ("lower", lambda x, y: th.strings.lower(x), lambda a, b: _python(str.lower, a)),
    ("regex", lambda x, y: th.strings.regex_full_match(x, r"[a-z]+(day)?"),
     lambda a, b: _python(lambda s: re.fullmatch(r"[a-z]+(day)?", s) is not None, a, otype=bool)),
    ("equal", lambda x, y: th.eq(x, th.strings.lower(x)),
     lambda a, b: _python(lambda s: s == s.lower(), a, otype=bool)),
    ("not_equal", lambda x, y: th.neq(x, "tuesday"), lambda a, b: _python(lambda s: s != "tuesday", a, otype=bool)),
    ("where", lambda x, y: th.where(th.eq(x, ""), th.strings.concat(x, y), x),
     lambda a, b: _python(lambda s, t: s + t if s == "" else s, a, b)),
    ("index", lambda x, y: th.strings.concat(x[::-1][1:3], y),
     lambda a, b: _python(lambda s, t: s + t, a[::-1][1:3], b)),
]


@pytest.mark.parametrize("case", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_string_functions(case, backend):
    _, build, expected = case
    x, y = _strings("x"), _strings("y", (1,))
    f = th.function([x, y], build(x, y), backend=backend, on_unused_input="ignore")
    got = f(WORDS, SUFFIX)
    want = expected(WORDS, SUFFIX)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("delimiter, maxsplit", [(None, None), ("-", None), ("-", 1), (" ", 2), ("", None)])
def test_split_matches_str_split(delimiter, maxsplit, backend):
    x = _strings("x", (None, None))
    f = th.function([x], th.strings.split(x, delimiter, maxsplit), backend=backend)
    data = WORDS.reshape(2, 3)
    pieces, counts = f(data)
    splits = [s.split(delimiter or None, -1 if maxsplit is None else maxsplit) for s in data.flat]
    assert counts.dtype == np.int64 and counts.tolist() == np.reshape([len(p) for p in splits], (2, 3)).tolist()
    width = max(len(p) for p in splits)
    assert pieces.shape == (2, 3, width)
    for got, want in zip(pieces.reshape(6, width), splits, strict=True):
        assert list(got) == want + [""] * (width - len(want))


@pytest.mark.parametrize("case, stopwords, sensitive, data, expected", [
    ("UPPER", ["monday"], False, ["Monday", "tuesday"], ["TUESDAY"]),
    ("LOWER", ["monday"], True, ["Monday", "monday", "Tue"], ["monday", "tue"]),
    ("NONE", ["x"], True, ["x", "x"], [""]),
    ("NONE", [], False, ["a", "B"], ["a", "B"]),
])
def test_normalize(case, stopwords, sensitive, data, expected, backend):
    x = _strings("x")
    f = th.function([x], th.strings.normalize(x, case, stopwords, sensitive), backend=backend)
    assert f(np.array(data, dtype=object)).tolist() == expected


def test_string_arrays_move_like_numbers(backend):
    x = _strings("x", (None, None))
    f = th.function([x], [x.T, x.reshape((-1,)), th.concatenate([x, x], axis=0), th.shape(x)], backend=backend)
    data = WORDS.reshape(2, 3)
    transposed, flat, joined, shape = f(data)
    np.testing.assert_array_equal(transposed, data.T)
    np.testing.assert_array_equal(flat, data.ravel())
    np.testing.assert_array_equal(joined, np.concatenate([data, data]))
    assert shape.tolist() == [2, 3]


def test_inputs_and_constants():
    x = _strings("x")
    f = th.function([x], th.strings.concat(x, "!"), backend="numpy")
    assert f(["a", "b"]).tolist() == ["a!", "b!"]
    assert f(np.array(["u"])).tolist() == ["u!"]  # NumPy's unicode arrays are string tensors too
    with pytest.raises(TypeError, match=r"a string tensor holds str elements. Received: 3 \(int\)"):
        f(np.array(["a", 3], dtype=object))
    assert th.constant(["a", "b"]).type == th.tensor.TensorType("string", (2,))
    assert str(x.type) == "string(?,)"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8"])
def test_cast_between_strings_and_numbers_is_numpys_astype(dtype, backend):
    x, s = th.tensor("x", dtype, (None,)), _strings("s")
    f = th.function([x, s], [th.cast(x, "string"), th.cast(s, dtype)], backend=backend)
    numbers = np.array([1.5, -0.0, np.nan, np.inf, 3] if dtype.startswith("float") else [0, -7, 100], dtype)
    texts = np.array(["1e-3", "NaN", "-INF", "2.5"] if dtype.startswith("float") else ["12", "-3"], dtype=object)
    as_text, as_number = f(numbers, texts)
    assert as_text.dtype == object and as_text.tolist() == numbers.astype(str).tolist()
    np.testing.assert_array_equal(as_number, texts.astype(dtype))


def test_a_string_that_is_not_a_number_fails_naming_the_node():
    s = _strings("s")
    f = th.function([s], th.cast(s, "int64"), backend="numpy")
    with pytest.raises(ValueError, match=r"not a number of dtype int64.*convert_int64"):
        f(np.array(["12", "x"], dtype=object))


@pytest.mark.parametrize("build, message", [
    (lambda x: th.exp(x), r"Elemwise\{exp\} cannot take string tensors: input 0 \(x, created at .*test_strings.py"),
    (lambda x: x + x, r"Elemwise\{add\} cannot take string tensors"),
    (lambda x: th.sum(x), r"cannot take string tensors"),
    (lambda x: th.strings.convert(x, "string"), r"strings.convert converts between strings and numbers"),
    (lambda x: th.strings.upper(th.tensor.vector("v", dtype="float32")), r"strings.upper takes string tensors"),
    (lambda x: th.strings.normalize(th.tensor.TensorType("string", (2, 3))("m")), r"a vector or a 1 x C matrix"),
    (lambda x: th.strings.regex_full_match(x, "("), r"invalid pattern"),
])
def test_ops_that_cannot_take_strings_say_so(build, message):
    x = _strings("x")
    with pytest.raises((TypeError, ValueError), match=message):
        build(x)

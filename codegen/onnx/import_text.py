"""ONNX text ops: the string ops (graph/ops/strings.py) and TfIdfVectorizer over integer tokens.

StringConcat, RegexFullMatch, StringSplit and StringNormalizer are the
string ops of ``th.strings``.  TfIdfVectorizer counts the pool's n-grams (of
integers, or of strings in a string input), with skips.

The pool is static, so each of its n-grams becomes a comparison of ``n``
shifted slices of the token axis (for every skip ``s`` up to
``max_skip_count``: tokens ``i, i + s + 1, ...``; a unigram is counted once,
whatever the skips), summed along that axis; ``ngram_indexes`` places the
counts in the output, and ``mode`` IDF/TFIDF weights them (IDF counts
presence only).
"""

from __future__ import annotations

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports
from theanine.graph.ops import strings


@imports("StringConcat")
def _string_concat(ctx, node, args, attrs):
    return [strings.concat(*args)]


@imports("RegexFullMatch")
def _regex_full_match(ctx, node, args, attrs):
    return [strings.regex_full_match(args[0], attrs["pattern"])]


@imports("StringSplit")
def _string_split(ctx, node, args, attrs):
    return strings.split(args[0], attrs.get("delimiter"), attrs.get("maxsplit"))


@imports("StringNormalizer")
def _string_normalizer(ctx, node, args, attrs):
    if attrs.get("locale"):
        raise Unsupported(f"locale {attrs['locale']!r} (only the default locale's case mapping)")
    return [strings.normalize(args[0], attrs.get("case_change_action", "NONE"), attrs.get("stopwords", ()),
                              bool(attrs.get("is_case_sensitive", 0)))]


def _pool_grams(pool, counts, min_n: int, max_n: int):
    """``(n, gram)`` of every pool n-gram in pool order, with whether its size is counted."""
    grams = []
    bounds = [*counts, len(pool)]
    for n in range(1, len(counts) + 1):
        start, end = bounds[n - 1], bounds[n]
        for at in range(start, end, n):
            grams.append((n, tuple(pool[at:at + n]), min_n <= n <= max_n))
    return grams


@imports("TfIdfVectorizer")
def _tfidf(ctx, node, args, attrs):
    x = args[0]
    pool = attrs.get("pool_strings", attrs.get("pool_int64s"))
    if pool is None or ("pool_strings" in attrs) != (x.dtype == "object"):
        raise Unsupported(f"a pool of {'strings' if 'pool_strings' in attrs else 'integers'} for an input of "
                          f"dtype {x.dtype}")
    length = x.type.shape[-1]
    if length is None or x.ndim not in (1, 2):
        raise Unsupported("TfIdfVectorizer needs a 1-D or 2-D input with a static token axis")
    mode = attrs.get("mode", "TF")
    grams = _pool_grams(pool, attrs["ngram_counts"], attrs["min_gram_length"], attrs["max_gram_length"])
    indexes = attrs["ngram_indexes"]
    weights = attrs.get("weights") or [1.0] * len(grams)
    tokens = x if x.dtype == "object" else th.cast(x, "int64")
    columns = {}
    for (n, gram, counted), column, weight in zip(grams, indexes, weights, strict=True):
        total = th.zeros(th.shape(x)[:-1], dtype="float32")
        skips = range(attrs["max_skip_count"] + 1) if n > 1 else [0]
        for skip in skips if counted else []:
            span = (n - 1) * (skip + 1)
            if span >= length:
                continue
            match = None
            for k, token in enumerate(gram):
                part = th.equal(tokens[..., k * (skip + 1): length - span + k * (skip + 1)], token)
                match = part if match is None else th.logical_and(match, part)
            total = total + th.sum(th.cast(match, "float32"), axis=-1)
        if mode == "IDF":
            total = th.minimum(total, 1.0) * weight
        elif mode == "TFIDF":
            total = total * weight
        columns[column] = columns.get(column, 0) + total
    zero = th.zeros(th.shape(x)[:-1], dtype="float32")
    return [th.stack([columns.get(k, zero) for k in range(max(indexes) + 1)], axis=-1)]

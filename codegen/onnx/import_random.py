"""ONNX's random ops on theanine's random streams: RandomUniform/Normal(Like), Bernoulli, Multinomial, Dropout.

A node with a ``seed`` draws from a stream of its own seeded by it (the same
model gives the same draws every time it is loaded); one without draws from
theanine's default stream (``th.set_seed``).  Every compiled call advances
the streams (their states are shared variables with default updates), so
each call draws anew, as ONNX intends.  The draws are theanine's (Philox),
not NumPy's: they match ONNX's distributions, not onnx's reference values.
Multinomial samples with the Gumbel-max trick (exact for a categorical);
Dropout in training mode keeps each value with probability ``1 - ratio`` and
scales it by ``1 / (1 - ratio)``; ``training_mode`` may be fed at run time.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.builder import NUMPY_DTYPES
from theanine.codegen.onnx.reader import Unsupported, imports
from theanine.graph.ops.random import RandomStream, default_stream


def _stream(attrs) -> RandomStream:
    return RandomStream(int(attrs["seed"])) if "seed" in attrs else default_stream()


def _dtype(attrs, like=None) -> str:
    if "dtype" in attrs:
        if attrs["dtype"] not in NUMPY_DTYPES:
            raise Unsupported(f"dtype {attrs['dtype']}")
        return NUMPY_DTYPES[attrs["dtype"]]
    return like.dtype if like is not None else "float32"


@imports("RandomUniform", "RandomUniformLike")
def _uniform(ctx, node, args, attrs):
    like = args[0] if args else None
    size = th.shape(like) if like is not None else list(attrs["shape"])
    dtype = _dtype(attrs, like)
    return [_stream(attrs).uniform(size, attrs.get("low", 0.0), attrs.get("high", 1.0), dtype=dtype)]


@imports("RandomNormal", "RandomNormalLike")
def _normal(ctx, node, args, attrs):
    like = args[0] if args else None
    size = th.shape(like) if like is not None else list(attrs["shape"])
    dtype = _dtype(attrs, like)
    return [_stream(attrs).normal(size, attrs.get("mean", 0.0), attrs.get("scale", 1.0), dtype=dtype)]


@imports("Bernoulli")
def _bernoulli(ctx, node, args, attrs):
    p = args[0]
    return [_stream(attrs).bernoulli(th.shape(p), p, dtype=_dtype(attrs, p))]


@imports("Multinomial")
def _multinomial(ctx, node, args, attrs):
    """``sample_size`` class indices per row of unnormalized log-probabilities: the argmax of the
    log-probabilities plus Gumbel noise."""
    logits = th.cast(args[0], "float64")
    samples = attrs.get("sample_size", 1)
    batch, classes = th.shape(logits)[0], th.shape(logits)[1]
    u = _stream(attrs).uniform([batch, samples, classes], np.finfo(np.float64).tiny, 1.0, dtype="float64")
    noisy = th.expand_dims(logits, 1) - th.log(-th.log(u))
    return [th.cast(th.argmax(noisy, axis=-1), _dtype({"dtype": attrs.get("dtype", 6)}))]


def training_dropout(ctx, node, x, ratio, training, attrs):
    """ONNX Dropout when ``training`` (a bool scalar, possibly fed at run time) may be true."""
    ratio = th.constant(np.asarray(0.5, x.dtype)) if ratio is None else th.cast(th.reshape(ratio, ()), x.dtype)
    keep = th.greater_equal(_stream(attrs).uniform(th.shape(x), dtype=x.dtype), ratio)
    training = th.reshape(th.cast(training, "bool"), ())
    kept = th.where(keep, x / (1 - ratio), th.zeros_like(x))
    return [th.where(training, kept, x), th.logical_or(keep, th.logical_not(training))]

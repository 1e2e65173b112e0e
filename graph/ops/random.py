"""Random numbers from a counter-based generator: Philox4x32-10, in theanine's own terms.

Every random variable owns a generator *state*: a shared ``uint32`` vector
of six words ``[k0, k1, c0, c1, c2, c3]``, a 64-bit key and a 128-bit
counter (``c0`` least significant).  A random op is a pure function
``(state, size, parameters) -> (new_state, sample)``; the state's
``default_update`` is the new state, so each call of a compiled function
advances it and draws new numbers.  Everything below is specified down to
the bit, so the LLVM and CUDA backends can produce the same streams.

The generator
-------------
Philox4x32-10 (Salmon et al., SC'11; the Random123 constants): a round
maps counter words ``(c0, c1, c2, c3)`` and key ``(k0, k1)`` to
``(hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))`` with
``M0 = 0xD2511F53``, ``M1 = 0xCD9E8D57`` (64-bit products split into high
and low 32 bits); the key is bumped by ``(0x9E3779B9, 0xBB67AE85)`` (mod
2**32) between rounds; 10 rounds.  One counter value gives one *block* of
four 32-bit words.

Words of a draw
---------------
A draw needing ``W`` words uses the ``B = ceil(W / 4)`` blocks at counters
``c, c + 1, ..., c + B - 1`` (128-bit addition) and concatenates their words
in order (block 0 words 0..3, block 1 words 0..3, ...); words past ``W`` in
the last block are discarded.  The new state has counter ``c + B``.  Values
are produced in C order of ``size``; ``w[i]`` is the i-th word.

Bit-to-value mappings
---------------------
- ``u24(w) = (w >> 8) * 2**-24`` in [0, 1);
  ``u53(a, b) = ((a >> 5) * 2**26 + (b >> 6)) * 2**-53`` in [0, 1).
- uniform, float16/float32: value i is ``u = u24(w[i])``; float64: ``u =
  u53(w[2i], w[2i+1])``.  Then ``low + (high - low) * u``, evaluated in the
  output dtype with separately rounded operations (no FMA contraction);
  rounding can make it reach ``high``.
- normal (Box-Muller), float16/float32: pair j uses ``u1 = u24(w[2j]) +
  2**-24`` (in (0, 1]) and ``u2 = u24(w[2j+1])``; float64: ``u1 =
  u53(w[4j], w[4j+1]) + 2**-53``, ``u2 = u53(w[4j+2], w[4j+3])``.  In
  float64, ``r = sqrt(-2 log u1)``; value ``2j`` is ``r cos(2 pi u2)``, value
  ``2j+1`` is ``r sin(2 pi u2)`` (an odd count drops the last sine); the
  result is rounded to the output dtype, then ``mean + std * z`` in that
  dtype.  log/cos/sin are the only operations not exact by construction:
  backends agree up to the last-bit accuracy of their float64 libm.
- bernoulli: value i is ``w[i] * 2**-32 < p`` (exact in float64, ``p`` in
  float64), 1 or 0 in the output dtype.
- integers in [low, high): ``r = high - low`` as uint64 (mod 2**64);
  ``x = w[2i] + w[2i+1] * 2**32``; value ``low + floor(x * r / 2**64)``
  (the high 64 bits of the 128-bit product; Lemire's multiply-shift
  without rejection, bias at most ``r / 2**64``), computed mod 2**64.
- permutation(n): key ``x_i`` from words ``2i, 2i+1`` as above; the result
  is the stable argsort of the keys (ties keep index order), int64.
- choice(a, p=None, replace=True): an index drawn as ``integers(0, n)``;
  with ``p``: ``u = u53(w[2i], w[2i+1])``, ``cdf`` the left-to-right
  cumulative sum of ``p`` in float64 divided by its last entry, index the
  number of ``cdf`` entries ``<= u`` (clamped to ``n - 1``).  Without
  replacement (uniform ``p`` only), the first ``prod(size)`` entries of
  ``permutation(n)`` (consuming ``2n`` words).

Parameters (low, high, mean, std, p) broadcast to ``size``, the output shape.

Keys of a stream
----------------
``RandomStream(seed)`` gives its k-th random variable (k = 0, 1, ...) the
key made of words 0 and 1 of Philox4x32-10 at counter ``(k mod 2**32,
k >> 32, 0, 0)`` under key ``(seed mod 2**32, seed >> 32)``, and counter 0.
Different variables therefore draw from independent Philox streams.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.config import config
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import expand_dims
from theanine.graph.ops.join import concatenate
from theanine.graph.ops.math import cast
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.ops.shape_values import as_shape_vector, shape_entries, static_entries
from theanine.graph.shared import SharedVariable
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete, is_float, normalize_dtype

__all__ = [
    "RandomStreams",
    "RandomStream", "RandomOp", "Uniform", "Normal", "Bernoulli", "Integers", "Choice",
    "Permutation", "set_seed", "default_stream", "philox4x32",
]

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
PHILOX_ROUNDS = 10
STATE_WORDS = 6
_MASK32 = 0xFFFFFFFF
_U64_32 = np.uint64(32)
_U64_MASK32 = np.uint64(_MASK32)


# ---------------------------------------------------------------- the generator


def _round_keys(key: Sequence[int]) -> list[tuple[np.uint32, np.uint32]]:
    """The key of each of the 10 rounds (bumped by the Weyl constants, mod 2**32)."""
    k0, k1 = int(key[0]), int(key[1])
    keys = []
    for r in range(PHILOX_ROUNDS):
        keys.append((np.uint32((k0 + r * PHILOX_W[0]) & _MASK32), np.uint32((k1 + r * PHILOX_W[1]) & _MASK32)))
    return keys


def _mulhilo(multiplier: int, word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low 32 bits of the 64-bit product ``multiplier * word``."""
    product = np.uint64(multiplier) * word.astype(np.uint64)
    return (product >> _U64_32).astype(np.uint32), (product & _U64_MASK32).astype(np.uint32)


def philox4x32(counters: np.ndarray, key: Sequence[int]) -> np.ndarray:
    """Philox4x32-10 of each row of ``counters`` (shape (n, 4), uint32) under ``key`` (2 words)."""
    c0, c1, c2, c3 = (np.ascontiguousarray(counters[:, i], dtype=np.uint32) for i in range(4))
    for k0, k1 in _round_keys(key):
        hi0, lo0 = _mulhilo(PHILOX_M[0], c0)
        hi1, lo1 = _mulhilo(PHILOX_M[1], c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1)


def _split64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (values & _U64_MASK32).astype(np.uint32), (values >> _U64_32).astype(np.uint32)


def _join64(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``low + high * 2**32`` as uint64."""
    return np.asarray(low, dtype=np.uint64) | (np.asarray(high, dtype=np.uint64) << _U64_32)


def _counters(state: np.ndarray, n_blocks: int) -> np.ndarray:
    """The 128-bit counters ``c, c + 1, ..., c + n_blocks`` as rows of 4 words (the last is the next state)."""
    low, high = _join64(state[2], state[3]), _join64(state[4], state[5])
    steps = np.arange(n_blocks + 1, dtype=np.uint64)
    new_low = low + steps
    new_high = high + (new_low < low).astype(np.uint64)
    return np.stack([*_split64(new_low), *_split64(new_high)], axis=1)


def random_words(state: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_words`` uint32 words of the stream at ``state`` and the advanced state."""
    n_blocks = -(-n_words // 4)
    counters = _counters(state, n_blocks)
    words = philox4x32(counters[:n_blocks], state[:2]).reshape(-1)[:n_words]
    new_state = np.concatenate([state[:2], counters[n_blocks]]).astype(np.uint32)
    return words, new_state


# ---------------------------------------------------------------- bit-to-value mappings


def _u24(words: np.ndarray) -> np.ndarray:
    return (words >> np.uint32(8)).astype(np.float64) * 2.0**-24


def _u53(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    a = (first >> np.uint32(5)).astype(np.float64)
    b = (second >> np.uint32(6)).astype(np.float64)
    return (a * 2.0**26 + b) * 2.0**-53


def _uses_53_bits(dtype: str) -> bool:
    return dtype == "float64"


def unit_uniform(words: np.ndarray, n: int, dtype: str) -> np.ndarray:
    """``n`` floats in [0, 1), exact in ``dtype`` (24-bit or 53-bit mapping)."""
    if _uses_53_bits(dtype):
        return _u53(words[0:2 * n:2], words[1:2 * n:2])
    return _u24(words[:n]).astype(np.float32)


def standard_normal(words: np.ndarray, n: int, dtype: str) -> np.ndarray:
    """``n`` standard normal values by Box-Muller, computed in float64 then rounded to ``dtype``."""
    pairs = -(-n // 2)
    if _uses_53_bits(dtype):
        u1 = _u53(words[0:4 * pairs:4], words[1:4 * pairs:4]) + 2.0**-53
        u2 = _u53(words[2:4 * pairs:4], words[3:4 * pairs:4])
    else:
        u1 = _u24(words[0:2 * pairs:2]) + 2.0**-24
        u2 = _u24(words[1:2 * pairs:2])
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).reshape(-1)[:n]
    return z.astype(dtype)


def uniform_indices(words: np.ndarray, n: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``n`` int64 values in [low, high) by 64-bit multiply-shift (no rejection)."""
    span = high.astype(np.int64).astype(np.uint64) - low.astype(np.int64).astype(np.uint64)
    x = _join64(words[0:2 * n:2], words[1:2 * n:2])
    return (low.astype(np.int64).astype(np.uint64) + _mulhi64(x, span)).astype(np.int64)


def _mulhi64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The high 64 bits of the 128-bit products ``a * b`` (uint64), from 32-bit halves."""
    a0, a1 = a & _U64_MASK32, a >> _U64_32
    b0, b1 = b & _U64_MASK32, b >> _U64_32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> _U64_32) + (p01 & _U64_MASK32) + (p10 & _U64_MASK32)
    return p11 + (p01 >> _U64_32) + (p10 >> _U64_32) + (middle >> _U64_32)


def sort_keys(words: np.ndarray, n: int) -> np.ndarray:
    """The stable argsort (int64) of ``n`` 64-bit keys made of word pairs."""
    return np.argsort(_join64(words[0:2 * n:2], words[1:2 * n:2]), kind="stable").astype(np.int64)


# ---------------------------------------------------------------- ops


def _size_variable(size) -> Variable:
    """``size`` (an int, a sequence of ints / int scalars, or an int vector such as ``x.shape``)
    as an int64 vector of static length."""
    if not isinstance(size, Variable):
        entries = np.ravel(np.asarray(size, dtype=object)) if not isinstance(size, (list, tuple)) else size
        if any(isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e < 0 for e in entries):
            raise ValueError(f"size must hold non-negative ints or int scalars. Received: size={size!r}")
    return as_shape_vector(size, "size")


def _static_size(size: Variable) -> tuple[int | None, ...]:
    """What is known of ``size`` when the graph is built (constants, static dims of ``x.shape``)."""
    return tuple(static_entries(size))


class RandomOp(Op):
    """Base of the random ops: ``(state, size, *params) -> (new_state, sample)``.

    ``deterministic = False`` marks ops whose output must never be
    constant-folded or precomputed by a rewrite: a folded draw would freeze
    the stream.  (Given the same state the op is a pure function, so
    merging two identical nodes on the same state is still correct.)
    Random ops have no gradient.

    Subclasses name their parameters in ``param_names`` and implement
    ``n_words(n, params)`` and ``sample(words, n, params, size)``.
    """

    deterministic = False
    param_names: tuple[str, ...] = ()
    __props__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = normalize_dtype(dtype)

    def param_dtype(self, index: int) -> str:
        """The dtype parameter ``index`` is cast to (the output dtype by default)."""
        return self.dtype

    def checked_state(self, state) -> Variable:
        """``state`` as a variable of the generator-state type, or a TypeError naming it."""
        state = as_tensor_variable(state)
        if state.type != TensorType("uint32", (STATE_WORDS,)):
            raise TypeError(f"{self}: the state must be uint32 of shape (6,). Received: {state.type}")
        return state

    def make_node(self, state, size, *params) -> Apply:
        state = self.checked_state(state)
        if len(params) != len(self.param_names):
            raise TypeError(f"{self} takes parameters {self.param_names}. Received {len(params)} of them")
        size = _size_variable(size)
        params = [as_tensor_variable(p, dtype=self.param_dtype(i)) for i, p in enumerate(params)]
        out_shape = _static_size(size)
        for name, param in zip(self.param_names, params, strict=True):
            self._check_broadcast(name, param, out_shape)
        return Apply(self, [state, size, *params], [state.type, TensorType(self.dtype, out_shape)])

    def _check_broadcast(self, name: str, param: Variable, out_shape: tuple) -> None:
        if param.ndim > len(out_shape) or any(
            p not in (1, None) and o is not None and p != o
            for p, o in zip(reversed(param.type.shape), reversed(out_shape), strict=False)
        ):
            raise ValueError(
                f"{self}: parameter {name} of shape {format_shape(param.type.shape)} does not broadcast to "
                f"size={format_shape(out_shape)}"
            )

    def perform(self, node, inputs):
        state, size, *params = inputs
        size = tuple(int(d) for d in size)
        if any(d < 0 for d in size):
            raise ValueError(f"{self}: size must be non-negative. Received: size={size}")
        n = int(np.prod(size, dtype=np.int64))
        params = [np.broadcast_to(p, size).reshape(-1) for p in params]
        words, new_state = random_words(state, self.n_words(n, params))
        sample = self.sample(words, n, params, size).reshape(size)
        return [new_state, np.asarray(sample, dtype=self.dtype)]

    def n_words(self, n: int, params: Sequence[np.ndarray]) -> int:
        raise NotImplementedError(f"{type(self).__name__}.n_words")

    def sample(self, words: np.ndarray, n: int, params: Sequence[np.ndarray], size: tuple) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.sample")

    def infer_shape(self, node, input_shapes):
        return [(STATE_WORDS,), tuple(shape_entries(node.inputs[1]))]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)

    def R_op(self, inputs, eval_points):
        return [None, None]

    def connection_pattern(self, node):
        return [[False, False] for _ in node.inputs]


class _FloatRandomOp(RandomOp):
    def __init__(self, dtype: str):
        super().__init__(dtype)
        if not is_float(self.dtype):
            raise TypeError(f"{type(self).__name__} draws floats. Received: dtype={self.dtype!r}")

    def n_words(self, n, params):
        return 2 * n if _uses_53_bits(self.dtype) else n


class Uniform(_FloatRandomOp):
    """Floats ``low + (high - low) * u`` with ``u`` uniform in [0, 1)."""

    param_names = ("low", "high")

    def sample(self, words, n, params, size):
        low, high = params
        u = unit_uniform(words, n, self.dtype).astype(self.dtype)
        return low + (high - low) * u


class Normal(_FloatRandomOp):
    """Gaussian floats ``mean + std * z`` (Box-Muller)."""

    param_names = ("mean", "std")

    def n_words(self, n, params):
        pairs = -(-n // 2)
        return 4 * pairs if _uses_53_bits(self.dtype) else 2 * pairs

    def sample(self, words, n, params, size):
        mean, std = params
        return mean + std * standard_normal(words, n, self.dtype)


class Bernoulli(RandomOp):
    """1 with probability ``p``, else 0, in ``dtype``."""

    param_names = ("p",)

    def param_dtype(self, index):
        return "float64"

    def n_words(self, n, params):
        return n

    def sample(self, words, n, params, size):
        return words[:n].astype(np.float64) * 2.0**-32 < params[0]


class Integers(RandomOp):
    """Integers uniform in [low, high), rejection-free (64-bit multiply-shift)."""

    param_names = ("low", "high")

    def __init__(self, dtype: str):
        super().__init__(dtype)
        if not is_discrete(self.dtype) or self.dtype == "bool":
            raise TypeError(f"Integers draws integers. Received: dtype={self.dtype!r}")

    def param_dtype(self, index):
        return "int64"

    def n_words(self, n, params):
        return 2 * n

    def sample(self, words, n, params, size):
        low, high = params
        if np.any(high <= low):
            raise ValueError(f"integers: high must be greater than low. Received: low={low}, high={high}")
        return uniform_indices(words, n, low, high)


class Permutation(RandomOp):
    """A random permutation of ``arange(n)``: the stable argsort of random 64-bit keys."""

    def __init__(self):
        super().__init__("int64")

    def n_words(self, n, params):
        return 2 * n

    def sample(self, words, n, params, size):
        return sort_keys(words, n)


class Choice(RandomOp):
    """Elements of a population (``arange(a)`` for an int ``a``, else the 1-d ``a``).

    Inputs after the size: the population (or its length), then ``p`` when
    ``weighted``.  Without replacement only uniform ``p`` is supported.
    """

    __props__ = ("dtype", "replace", "weighted", "from_range")

    def __init__(self, dtype: str, replace: bool, weighted: bool, from_range: bool):
        super().__init__(dtype)
        if weighted and not replace:
            raise NotImplementedError("choice(replace=False) supports only uniform probabilities (p=None)")
        self.replace, self.weighted, self.from_range = bool(replace), bool(weighted), bool(from_range)
        self.param_names = ("a", "p") if weighted else ("a",)

    def make_node(self, state, size, *params) -> Apply:
        state = self.checked_state(state)
        a = as_tensor_variable(params[0], dtype="int64" if self.from_range else None)
        if a.ndim != (0 if self.from_range else 1):
            raise ValueError(f"choice: a must be an int or a 1-d tensor. Received: {a.type}")
        rest = [as_tensor_variable(params[1], dtype="float64")] if self.weighted else []
        size = _size_variable(size)
        if rest and rest[0].ndim != 1:
            raise ValueError(f"choice: p must be a 1-d tensor. Received: {rest[0].type}")
        out = TensorType(self.dtype, _static_size(size))
        return Apply(self, [state, size, a, *rest], [state.type, out])

    def perform(self, node, inputs):
        state, size, a, *rest = inputs
        size = tuple(int(d) for d in size)
        n = int(np.prod(size, dtype=np.int64))
        population = int(a) if self.from_range else len(a)
        indices, new_state = self._indices(state, n, population, rest[0] if rest else None)
        values = indices if self.from_range else a[indices]
        return [new_state, np.asarray(values, dtype=self.dtype).reshape(size)]

    def _indices(self, state, n: int, population: int, p):
        if population <= 0 and n > 0:
            raise ValueError(f"choice: cannot choose from an empty population (size={n})")
        if not self.replace:
            if n > population:
                raise ValueError(f"choice(replace=False): cannot take {n} of {population} elements")
            words, new_state = random_words(state, 2 * population)
            return sort_keys(words, population)[:n], new_state
        words, new_state = random_words(state, 2 * n)
        if p is None:
            zeros = np.zeros(n, dtype=np.int64)
            return uniform_indices(words, n, zeros, zeros + population), new_state
        if len(p) != population:
            raise ValueError(f"choice: p has {len(p)} entries for a population of {population}")
        cdf = np.cumsum(p.astype(np.float64))
        u = _u53(words[0:2 * n:2], words[1:2 * n:2])
        return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), population - 1), new_state


# ---------------------------------------------------------------- streams


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"a seed must be an int in [0, 2**64). Received: seed={seed!r}")
    return int(seed)


def stream_key(seed: int, index: int) -> np.ndarray:
    """The Philox key of the ``index``-th random variable of a stream seeded with ``seed``."""
    counter = np.array([[index & _MASK32, index >> 32, 0, 0]], dtype=np.uint32)
    return philox4x32(counter, (seed & _MASK32, seed >> 32))[0, :2]


def initial_state(seed: int, index: int) -> np.ndarray:
    """Key of variable ``index`` and counter 0."""
    return np.concatenate([stream_key(seed, index), np.zeros(4, dtype=np.uint32)])


def derive_seed(seed: int, index: int) -> int:
    """The ``index``-th seed derived from ``seed``: a well-mixed int in ``[0, 2**63)``."""
    words = [seed & 0xFFFFFFFF, seed >> 32, index]
    low, high = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return (int(high) << 31) ^ int(low)


class RandomStream:
    """A source of random variables: ``rng = th.random.RandomStream(42)``.

    Each method call makes a new random variable with its own shared
    state (named ``random_state<k>``); compiled functions advance that
    state on every call.  The same seed gives the same variables in any
    process.  ``seed=None`` draws a seed from the operating system.
    """

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) % 2**64
        self.seed = _check_seed(seed)
        self.states: list[SharedVariable] = []
        self._host_seeds_drawn = 0

    def host_seed(self) -> int:
        """The next seed for host-side randomness tied to this stream (weight initializers, shuffling).

        The ``k``-th call returns ``derive_seed(self.seed, k)``, so a fresh
        stream (``th.set_seed(n)``) restarts the sequence.
        """
        index, self._host_seeds_drawn = self._host_seeds_drawn, self._host_seeds_drawn + 1
        return derive_seed(self.seed, index)

    def reseed(self, seed: int) -> None:
        """Reset every state made so far as if this stream had been created with ``seed``."""
        self.seed = _check_seed(seed)
        for index, state in enumerate(self.states):
            state.set_value(initial_state(self.seed, index))

    def _draw(self, op: RandomOp, size, *params):
        index = len(self.states)
        state = SharedVariable(initial_state(self.seed, index), TensorType("uint32", (STATE_WORDS,)),
                               name=f"random_state{index}")
        node = op.apply(state, size, *params)
        new_state, sample = node.outputs
        state.default_update = new_state
        self.states.append(state)
        return sample

    def uniform(self, size=(), low=0.0, high=1.0, dtype=None):
        """Floats uniform in [low, high) of shape ``size`` (dtype default ``config.floatX``)."""
        return self._draw(Uniform(dtype or config.floatX), size, low, high)

    def normal(self, size=(), mean=0.0, std=1.0, dtype=None):
        """Gaussian floats of shape ``size`` (dtype default ``config.floatX``)."""
        return self._draw(Normal(dtype or config.floatX), size, mean, std)

    def bernoulli(self, size=(), p=0.5, dtype=None):
        """1 with probability ``p`` else 0, of shape ``size`` (dtype default ``config.floatX``)."""
        return self._draw(Bernoulli(dtype or config.floatX), size, p)

    def binomial(self, size=(), n=1, p=0.5, dtype="int64"):
        """Counts of successes in ``n`` trials of probability ``p`` (Theano's ``RandomStreams.binomial``).

        ``n`` is a static int: the count is the sum of ``n`` Bernoulli draws
        along a trailing axis (so ``n = 1`` is ``bernoulli`` in ``dtype``).
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise TypeError(f"RandomStream.binomial: n must be a non-negative Python int. Received: {n!r}")
        if n == 1:
            return self.bernoulli(size, p, dtype)
        p = as_tensor_variable(p)
        trials_shape = concatenate([as_shape_vector(size, "RandomStream.binomial"),
                                    as_tensor_variable(np.asarray([int(n)], dtype="int64"))])
        trials = self.bernoulli(trials_shape, expand_dims(p, -1) if p.ndim else p, "int64")
        return cast(reduce_sum(trials, axis=-1), dtype)

    def integers(self, low, high=None, size=(), dtype="int64"):
        """Integers uniform in [low, high) (or [0, low) when ``high`` is None)."""
        if high is None:
            low, high = 0, low
        return self._draw(Integers(dtype), size, low, high)

    def choice(self, a, size=(), replace=True, p=None):
        """Elements of ``a`` (or of ``arange(a)`` for an int): with replacement, optionally
        weighted by ``p``; without replacement, uniformly only (``p`` must be None)."""
        from_range = isinstance(a, (int, np.integer)) or (isinstance(a, Variable) and a.ndim == 0)
        a_var = as_tensor_variable(a, dtype="int64" if from_range else None)
        dtype = "int64" if from_range else a_var.dtype
        params = (a_var,) if p is None else (a_var, p)
        return self._draw(Choice(dtype, replace, p is not None, from_range), size, *params)

    def permutation(self, n):
        """A random permutation of ``arange(n)`` (int64)."""
        return self._draw(Permutation(), (n,))


RandomStreams = RandomStream
"""Theano's name (``theano.tensor.shared_randomstreams.RandomStreams``)."""


def set_seed(seed: int) -> None:
    """Set ``config.seed`` and restart the default stream from it (``th.set_seed(0)``)."""
    config.seed = _check_seed(seed)
    config.default_stream(RandomStream, restart=True)


def default_stream() -> RandomStream:
    """The stream behind ``th.random.uniform`` and friends, seeded by ``config.seed``
    (None: seeded from the OS once per process)."""
    return config.default_stream(RandomStream)


def uniform(size=(), low=0.0, high=1.0, dtype=None):
    """``default_stream().uniform``."""
    return default_stream().uniform(size, low, high, dtype)


def normal(size=(), mean=0.0, std=1.0, dtype=None):
    """``default_stream().normal``."""
    return default_stream().normal(size, mean, std, dtype)


def bernoulli(size=(), p=0.5, dtype=None):
    """``default_stream().bernoulli``."""
    return default_stream().bernoulli(size, p, dtype)


def integers(low, high=None, size=(), dtype="int64"):
    """``default_stream().integers``."""
    return default_stream().integers(low, high, size, dtype)


def choice(a, size=(), replace=True, p=None):
    """``default_stream().choice``."""
    return default_stream().choice(a, size, replace, p)


def permutation(n):
    """``default_stream().permutation``."""
    return default_stream().permutation(n)

"""Lowering rules for the random ops (Philox4x32-10 streams): native kernels instead of host calls.

Philox is counter based, so a draw is elementwise: value ``i`` (its C-order
position in ``size``) needs only the words of its own counter block, which
the scalar op ``philox_word`` computes from the six state words and the
block and lane numbers (see ``llvm_philox``).  A draw lowers to

- a check step for what ``perform`` rejects (negative sizes; for integers,
  ``high <= low`` at a drawn element),
- one elementwise kernel over ``size`` whose expression maps words to
  values exactly as ``graph/ops/random.py`` specifies (the state words are
  broadcast reads of the state buffer, the parameters are broadcast to
  ``size``; with scalar parameters the loop is flat, so it vectorizes),
- a 6-element kernel writing the new state: the key, and the counter
  advanced by the number of blocks the draw used (``philox_counter``).

float16 draws round after every operation, as NumPy does and as the
printers do for every float16 result.

Permutations and choices draw over a flat loop (their values do not
depend on the position in ``size``):

- a permutation of ``n`` is a kernel making ``n`` 64-bit keys from word
  pairs, then their stable argsort (``SortKernel``);
- a uniform choice with replacement is an integer draw in
  ``[0, population)``, gathered from the population when it is an array;
- a weighted choice is the cumulative sum of ``p`` (``ScanKernel``),
  divided by its last entry, and one sorted search per 53-bit uniform;
- a choice without replacement is the first entries of a permutation of
  the population.

A check step before them fails where ``perform`` raises (an empty
population, more values than the population without replacement, ``p``
of another length), so the runtime reruns ``perform`` for NumPy's error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    Call,
    DimOf,
    ElementwiseKernel,
    Expr,
    Index,
    Lit,
    Load,
    ReduceKernel,
    ScanKernel,
    ShapeExpr,
    Size,
    SortKernel,
    ValueOf,
)
from theanine.codegen.program.lowering import Lowerer, compose, lowering
from theanine.codegen.program.rules.views import vector_entries
from theanine.graph.basic import Apply
from theanine.graph.ops.random import (
    STATE_WORDS,
    Bernoulli,
    Choice,
    Integers,
    Normal,
    Permutation,
    RandomOp,
    Uniform,
)

U64 = "uint64"




def _u64(value: int) -> Lit:
    return Lit(value, U64)


def _f64(value: float) -> Lit:
    return Lit(value, "float64")


def _shr(x: Expr, bits: int) -> Expr:
    """``x >> bits`` for unsigned ``x`` (a division by a power of two)."""
    return call("floor_divide", x.dtype, x, Lit(1 << bits, x.dtype))


def _low_bits(x: Expr, bits: int) -> Expr:
    return call("bitwise_and", x.dtype, x, Lit((1 << bits) - 1, x.dtype))


def _times(x: Expr, factor: float | int) -> Expr:
    return call("multiply", x.dtype, x, Lit(factor, x.dtype))


class _Stream:
    """Words of the stream at the state read by kernel inputs 0..5 (k0, k1, c0, c1, c2, c3)."""

    state = tuple(Arg(k, "uint32") for k in range(STATE_WORDS))

    def word(self, block: Expr, lane: Expr | int) -> Call:
        """Word ``lane`` of block ``block`` (uint64 expressions)."""
        lane = _u64(lane) if isinstance(lane, int) else lane
        return call("philox_word", "uint32", *self.state, block, lane)

    def flat_word(self, i: Expr) -> Call:
        """Word ``i`` of the draw."""
        return self.word(_shr(i, 2), _low_bits(i, 2))

    def pair(self, i: Expr) -> tuple[Call, Call]:
        """Words ``2i`` and ``2i + 1`` (one block holds both)."""
        block, first = _shr(i, 1), _times(_low_bits(i, 1), 2)
        return self.word(block, first), self.word(block, call("add", U64, first, _u64(1)))


def _u24(word: Expr) -> Expr:
    """``(w >> 8) * 2**-24`` in float64 (exact)."""
    return _times(cast(_shr(word, 8), "float64"), 2.0**-24)


def _u53(first: Expr, second: Expr) -> Expr:
    """``((a >> 5) * 2**26 + (b >> 6)) * 2**-53`` in float64 (exact)."""
    high = _times(cast(_shr(first, 5), "float64"), 2.0**26)
    return _times(call("add", "float64", high, cast(_shr(second, 6), "float64")), 2.0**-53)


# --- bit-to-value mappings: (stream, flat index i as uint64, parameter Args, dtype) -> value --------


def _uniform(stream: _Stream, i: Expr, params: Sequence[Expr], dtype: str) -> Expr:
    low, high = params
    u = _u53(*stream.pair(i)) if _wide(dtype) else _u24(stream.flat_word(i))
    span = call("subtract", dtype, high, low)
    return call("add", dtype, low, call("multiply", dtype, span, cast(u, dtype)))


def _normal(stream: _Stream, i: Expr, params: Sequence[Expr], dtype: str) -> Expr:
    """Box-Muller on pair ``j = i >> 1``: value ``2j`` is ``r cos``, value ``2j + 1`` is ``r sin``."""
    mean, std = params
    j = _shr(i, 1)
    if _wide(dtype):
        u1 = call("add", "float64", _u53(stream.word(j, 0), stream.word(j, 1)), _f64(2.0**-53))
        u2 = _u53(stream.word(j, 2), stream.word(j, 3))
    else:
        first, second = stream.pair(j)
        u1, u2 = call("add", "float64", _u24(first), _f64(2.0**-24)), _u24(second)
    radius = call("sqrt", "float64", call("multiply", "float64", _f64(-2.0), call("log", "float64", u1)))
    angle = call("multiply", "float64", _f64(2.0 * math.pi), u2)
    is_sine = call("equal", "bool", _low_bits(i, 1), _u64(1))
    z = call("where", "float64", is_sine, call("multiply", "float64", radius, call("sin", "float64", angle)),
              call("multiply", "float64", radius, call("cos", "float64", angle)))
    return call("add", dtype, mean, call("multiply", dtype, std, cast(z, dtype)))


def _bernoulli(stream: _Stream, i: Expr, params: Sequence[Expr], dtype: str) -> Expr:
    (p,) = params
    u = _times(cast(stream.flat_word(i), "float64"), 2.0**-32)
    return cast(call("less", "bool", u, p), dtype)


def _key(stream: _Stream, i: Expr) -> Expr:
    """The 64 bits of words ``2i, 2i + 1`` (``2i`` the low half), uint64."""
    first, second = stream.pair(i)
    return call("bitwise_or", U64, cast(first, U64), _times(cast(second, U64), 1 << 32))


def _integers(stream: _Stream, i: Expr, params: Sequence[Expr], dtype: str) -> Expr:
    """``low + mulhi(x, high - low)`` modulo 2**64, ``x`` the key of value ``i``."""
    low, high = (cast(p, U64) for p in params)
    offset = call("mulhi", U64, _key(stream, i), call("subtract", U64, high, low))
    return cast(cast(call("add", U64, low, offset), "int64"), dtype)


Mapping = Callable[[_Stream, Expr, Sequence[Expr], str], Expr]


def _pairs_in_words(n: ShapeExpr, per_pair: int) -> ShapeExpr:
    """Words of ``ceil(n / 2)`` pairs (Box-Muller makes values two at a time)."""
    return S.mul(S.floordiv(S.add(n, 1), 2), per_pair)


def _wide(dtype: str) -> bool:
    """Whether values take 53-bit uniforms (two words each)."""
    return dtype == "float64"


_DRAWS: dict[type, tuple[Mapping, Callable[[ShapeExpr, str], ShapeExpr]]] = {
    Uniform: (_uniform, lambda n, dtype: S.mul(n, 2 if _wide(dtype) else 1)),
    Normal: (_normal, lambda n, dtype: _pairs_in_words(n, 4 if _wide(dtype) else 2)),
    Bernoulli: (_bernoulli, lambda n, dtype: n),
    Integers: (_integers, lambda n, dtype: S.mul(n, 2)),
}
"""Per op class: the value of element i, and ``n_words`` (the words ``n`` values use) as a ShapeExpr."""


# --- rules -----------------------------------------------------------------------------------------


@lowering(RandomOp)
def _lower_draw(lowerer: Lowerer, node: Apply) -> bool:
    draw = _DRAWS.get(type(node.op))
    if draw is None:
        return False
    _Draw(lowerer, node).lower(*draw)
    return True


class _Draw:
    """One random node being lowered: its size, state words and parameter accesses."""

    def __init__(self, lowerer: Lowerer, node: Apply):
        self.lowerer, self.node = lowerer, node
        state, size, *self.params = node.inputs
        sample = node.outputs[1]
        entries = [s if s is not None else e for s, e in zip(sample.type.shape, vector_entries(lowerer, size),
                                                              strict=True)]
        self.nonnegative = [S.less(-1, e) for e in entries if not isinstance(e, (int, DimOf))]
        self.shape = tuple(e if isinstance(e, (int, DimOf)) else S.maximum(0, e) for e in entries)
        self.count = S.product(self.shape)
        self.state = lowerer.plain_ref(state).buffer
        self.flat = all(all(d == 1 for d in p.type.shape) for p in self.params)

    def lower(self, mapping: Mapping, n_words: Callable[[ShapeExpr, str], ShapeExpr]) -> None:
        lowerer, node = self.lowerer, self.node
        S.check_step(lowerer, node, self.nonnegative)
        loop, i = self._loop()
        params, checks = self._param_accesses(len(loop))
        if isinstance(node.op, Integers):
            self._check_span(loop, params, checks)
        state_words = self.state_words(len(loop))
        args = [Arg(STATE_WORDS + k, p.dtype) for k, p in enumerate(self.params)]
        sample = lowerer.bind_new(node.outputs[1], self.shape)
        value = mapping(_Stream(), i, args, node.op.dtype)
        inputs = state_words + tuple(params)
        lowerer.steps.append(ElementwiseKernel(inputs, (sample,), (value,), loop, tuple(checks), node))
        self.advance_state(n_words(self.count, node.op.dtype))

    def state_words(self, loop_rank: int) -> tuple[Access, ...]:
        """The six state words, each broadcast along a loop of ``loop_rank`` axes (kernel inputs 0..5)."""
        return tuple(Access(self.state, (None,) * loop_rank, (k,)) for k in range(STATE_WORDS))

    def _loop(self) -> tuple[tuple[ShapeExpr, ...], Expr]:
        """The loop shape and the flat position (uint64) of its element: one flat loop when the
        parameters are scalars, else a loop over ``size`` (the parameters broadcast along it)."""
        if self.flat:
            return (self.count,), cast(Index(0), U64)
        position: Expr = Lit(0, "int64")
        for axis in range(len(self.shape)):
            stride = S.product(self.shape[axis + 1:])
            term = call("multiply", "int64", Index(axis), _dimension(stride))
            position = call("add", "int64", position, term)
        return self.shape, cast(position, U64)

    def _param_accesses(self, loop_rank: int) -> tuple[list[Access], list]:
        """Each parameter broadcast to the loop (right-aligned), and the size checks that needs.

        As for elementwise ops, only a static 1 broadcasts: a dimension known
        at run time must equal the size's.
        """
        accesses, checks = [], []
        for param in self.params:
            source = self.lowerer.ref(param)
            if self.flat:
                accesses.append(compose(source, [None] * loop_rank))
                continue
            lead = loop_rank - param.ndim
            picks = [None] * lead + [None if param.type.shape[a] == 1 else a for a in range(param.ndim)]
            accesses.append(compose(source, picks))
            dims = self.lowerer.shape(param)
            checks += [(self.shape[lead + a], dims[a]) for a in range(param.ndim)
                       if param.type.shape[a] != 1 and self.shape[lead + a] != dims[a]]
        return accesses, checks

    def _check_span(self, loop, params: list[Access], checks: list) -> None:
        """A check step failing when some drawn element has ``high <= low`` (perform raises)."""
        low, high = self.params
        if self.flat and low.ndim == 0 and high.ndim == 0:
            ordered = S.less(self.lowerer.scalar_shape(low), self.lowerer.scalar_shape(high))
            S.check_step(self.lowerer, self.node, [S.where(self.count, ordered, 1)])
            return
        no_span = call("less_equal", "bool", Arg(1, high.dtype), Arg(0, low.dtype))
        found = self.lowerer.new_buffer("bool", (), "temp", 0)
        axes = tuple(range(len(loop)))
        self.lowerer.steps.append(
            ReduceKernel(tuple(params), no_span, found, axes, "or", "bool", loop, tuple(checks), self.node)
        )
        S.check_step(self.lowerer, self.node, [S.equal(ValueOf(found), 0)])

    def argsort_keys(self, length: ShapeExpr, output: int) -> None:
        """Steps writing into ``output`` the stable argsort of the ``length`` keys made of word pairs
        (``sort_keys``): a kernel making the keys, then a ``SortKernel``."""
        lowerer = self.lowerer
        keys = lowerer.new_buffer("uint64", (length,), "temp", 1)
        key = _key(_Stream(), cast(Index(0), U64))
        lowerer.steps.append(ElementwiseKernel(self.state_words(1), (keys,), (key,), (length,), (), self.node))
        scratch = lowerer.new_buffer("int64", (length,), "temp", 1)
        lowerer.steps.append(
            SortKernel(Access(keys, (0,)), None, output, scratch, "argsort", length, length, self.node)
        )

    def advance_state(self, words: ShapeExpr) -> None:
        """The new state: the key, and the counter plus the blocks the draw's ``words`` used."""
        blocks = S.floordiv(S.add(words, 3), 4)
        word = Index(0)
        counter = [Arg(k, "uint32") for k in range(1, 5)]
        position = cast(call("subtract", "int64", word, Lit(2, "int64")), U64)
        advanced = call("philox_counter", "uint32", *counter, cast(_dimension(blocks), U64), position)
        is_key = call("less", "bool", word, Lit(2, "int64"))
        value = call("where", "uint32", is_key, Arg(0, "uint32"), advanced)
        inputs = (Access(self.state, (0,)),) + tuple(Access(self.state, (None,), (k,)) for k in range(2, 6))
        out = self.lowerer.bind_new(self.node.outputs[0], (STATE_WORDS,))
        self.lowerer.steps.append(ElementwiseKernel(inputs, (out,), (value,), (STATE_WORDS,), (), self.node))


def _dimension(expr: ShapeExpr) -> Expr:
    """A ShapeExpr as an int64 expression leaf."""
    return Lit(expr, "int64") if isinstance(expr, int) else Size(expr)


# --- permutations and choices -------------------------------------------------------------------


@lowering(Permutation)
def _lower_permutation(lowerer: Lowerer, node: Apply) -> bool:
    draw = _Draw(lowerer, node)
    S.check_step(lowerer, node, draw.nonnegative)
    draw.argsort_keys(draw.count, lowerer.bind_new(node.outputs[1], draw.shape))
    draw.advance_state(S.mul(draw.count, 2))
    return True


@lowering(Choice)
def _lower_choice(lowerer: Lowerer, node: Apply) -> bool:
    draw = _Choice(lowerer, node)
    if not node.op.replace:
        draw.without_replacement()
    elif node.op.weighted:
        draw.weighted()
    else:
        draw.uniform()
    return True


class _Choice(_Draw):
    """A choice being lowered: ``population`` (a ShapeExpr) and a flat loop over its ``count`` values."""

    def __init__(self, lowerer: Lowerer, node: Apply):
        super().__init__(lowerer, node)
        a = self.params[0]
        self.population = lowerer.scalar_shape(a) if node.op.from_range else lowerer.shape(a)[0]
        self.drawn = S.where(self.count, S.less(0, self.population), 1)
        self.sample = lowerer.bind_new(node.outputs[1], self.shape)

    def uniform(self) -> None:
        """Indices drawn as ``integers(0, population)``."""
        S.check_step(self.lowerer, self.node, self.nonnegative + [self.drawn])
        population = _dimension(self.population)
        index = _integers(_Stream(), cast(Index(0), U64), (Lit(0, "int64"), population), "int64")
        self.emit_values(self.state_words(1), index)
        self.advance_state(S.mul(self.count, 2))

    def weighted(self) -> None:
        """Indices ``min(searchsorted(cdf / cdf[-1], u, "right"), population - 1)``, ``u`` 53-bit uniforms."""
        lowerer, node = self.lowerer, self.node
        p = self.params[1]
        length = lowerer.shape(p)[0]
        S.check_step(lowerer, node, self.nonnegative + [S.less(0, self.population), S.equal(length, self.population)])
        cdf = lowerer.new_buffer("float64", (length,), "temp", 1)
        lowerer.steps.append(ScanKernel(lowerer.ref(p), cdf, 0, "add", False, "float64", (length,), node))
        normalized = lowerer.new_buffer("float64", (length,), "temp", 1)
        total = Access(cdf, (None,), (S.sub(length, 1),))
        ratio = call("true_divide", "float64", Arg(0, "float64"), Arg(1, "float64"))
        lowerer.steps.append(ElementwiseKernel((Access(cdf, (0,)), total), (normalized,), (ratio,), (length,), (),
                                               node))
        uniforms = lowerer.new_buffer("float64", (self.count,), "temp", 1)
        u = _u53(*_Stream().pair(cast(Index(0), U64)))
        lowerer.steps.append(ElementwiseKernel(self.state_words(1), (uniforms,), (u,), (self.count,), (), node))
        found = lowerer.new_buffer("int64", (self.count,), "temp", 1)
        lowerer.steps.append(SortKernel(Access(normalized, (0,)), Access(uniforms, (0,)), found, None, "search",
                                        length, self.count, node))
        last = call("subtract", "int64", _dimension(self.population), Lit(1, "int64"))
        self.emit_values((Access(found, (0,)),), call("minimum", "int64", Arg(0, "int64"), last))
        self.advance_state(S.mul(self.count, 2))

    def without_replacement(self) -> None:
        """The first ``count`` entries of a permutation of the population (``2 population`` words)."""
        lowerer = self.lowerer
        enough = S.less(self.count, S.add(self.population, 1))
        S.check_step(lowerer, self.node, self.nonnegative + [self.drawn, enough])
        length = S.maximum(0, self.population)
        order = lowerer.new_buffer("int64", (length,), "temp", 1)
        self.argsort_keys(length, order)
        first = Load(0, (Index(0),), (length,), (False,), "int64")
        self.emit_values((Access(order, (0,)),), first)
        self.advance_state(S.mul(length, 2))

    def emit_values(self, inputs: tuple[Access, ...], index: Expr) -> None:
        """A flat kernel writing the sample: ``index`` (an int64 expression of ``inputs``), or the
        population's element there (a gather; the index is in bounds by construction)."""
        a = self.params[0]
        if self.node.op.from_range:
            value = cast(index, self.node.op.dtype)
        else:
            value = Load(len(inputs), (index,), (self.population,), (False,), a.dtype)
            inputs = inputs + (self.lowerer.ref(a),)
        self.lowerer.steps.append(ElementwiseKernel(inputs, (self.sample,), (value,), (self.count,), (), self.node))

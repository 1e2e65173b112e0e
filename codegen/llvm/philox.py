"""Philox4x32-10 and the 128-bit counter arithmetic of random streams, as LLVM IR.

The bits are specified in ``graph/ops/random.py`` (the state layout
``[k0, k1, c0, c1, c2, c3]``, the round function, the Weyl key schedule);
this module emits the same function branch-free on 32-bit words, with
each ``mulhilo`` as one 64-bit product, and all 10 rounds unrolled, so a
loop over the elements of a draw vectorizes.  Two scalar ops use it:

- ``philox_word(k0, k1, c0, c1, c2, c3, block, lane)`` (six uint32 state
  words, then two uint64) -> uint32: word ``lane`` (0..3) of the block at
  counter ``c + block``.  Words of one block differ only in ``lane``, so
  the optimizer shares their rounds.
- ``philox_counter(c0, c1, c2, c3, blocks, word)`` -> uint32: word ``word``
  (0..3) of the counter ``c + blocks`` (the state after a draw).

Lanes and words outside 0..3 give word 3 (never undefined behaviour).
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from theanine.codegen.llvm.ir_types import I32, I64
from theanine.graph.ops.random import PHILOX_M, PHILOX_ROUNDS, PHILOX_W


def _join(b: ir.IRBuilder, low: ir.Value, high: ir.Value) -> ir.Value:
    """``low + high * 2**32`` as i64."""
    return b.or_(b.zext(low, I64), b.shl(b.zext(high, I64), ir.Constant(I64, 32)))


def _split(b: ir.IRBuilder, value: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Low and high 32 bits of an i64."""
    return b.trunc(value, I32), b.trunc(b.lshr(value, ir.Constant(I64, 32)), I32)


def counter_plus(b: ir.IRBuilder, words: Sequence[ir.Value], blocks: ir.Value) -> list[ir.Value]:
    """The four words of the 128-bit counter ``words`` (c0 least significant) plus ``blocks`` (i64)."""
    low = _join(b, words[0], words[1])
    high = _join(b, words[2], words[3])
    new_low = b.add(low, blocks)
    carry = b.zext(b.icmp_unsigned("<", new_low, low), I64)
    return [*_split(b, new_low), *_split(b, b.add(high, carry))]


def _mulhilo(b: ir.IRBuilder, multiplier: int, word: ir.Value) -> tuple[ir.Value, ir.Value]:
    """High and low 32 bits of the 64-bit product ``multiplier * word``."""
    low, high = _split(b, b.mul(b.zext(word, I64), ir.Constant(I64, multiplier)))
    return high, low


def philox4x32(b: ir.IRBuilder, counter: Sequence[ir.Value], key: Sequence[ir.Value]) -> list[ir.Value]:
    """The four output words of Philox4x32-10 of ``counter`` under ``key`` (i32 values)."""
    c0, c1, c2, c3 = counter
    for r in range(PHILOX_ROUNDS):
        k0 = b.add(key[0], ir.Constant(I32, (r * PHILOX_W[0]) & 0xFFFFFFFF))
        k1 = b.add(key[1], ir.Constant(I32, (r * PHILOX_W[1]) & 0xFFFFFFFF))
        hi0, lo0 = _mulhilo(b, PHILOX_M[0], c0)
        hi1, lo1 = _mulhilo(b, PHILOX_M[1], c2)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
    return [c0, c1, c2, c3]


def select_lane(b: ir.IRBuilder, words: Sequence[ir.Value], lane: ir.Value) -> ir.Value:
    """``words[lane]`` for an i64 ``lane`` (selects, so vector lanes may differ); word 3 past the end."""
    value = words[3]
    for k in (2, 1, 0):
        value = b.select(b.icmp_unsigned("==", lane, ir.Constant(I64, k)), words[k], value)
    return value


def emit_word(b: ir.IRBuilder, args: Sequence[ir.Value]) -> ir.Value:
    """``philox_word``: word ``lane`` of the block at counter ``c + block``."""
    k0, k1, c0, c1, c2, c3, block, lane = args
    counter = counter_plus(b, [c0, c1, c2, c3], block)
    return select_lane(b, philox4x32(b, counter, [k0, k1]), lane)


def emit_counter(b: ir.IRBuilder, args: Sequence[ir.Value]) -> ir.Value:
    """``philox_counter``: word ``word`` of the counter ``c + blocks``."""
    c0, c1, c2, c3, blocks, word = args
    return select_lane(b, counter_plus(b, [c0, c1, c2, c3], blocks), word)

"""Elementwise NumPy functions with no composition of the core table: integer arithmetic,
bit shifts, float bit-level functions and SciPy special functions.

Each is an ``Elemwise`` over a ``ScalarOp`` whose NumPy implementation is
the specification (output dtypes included).  No printer has an emitter for
them, so every backend runs their ``perform`` (the LLVM backend as a host
call); gradients are written in tensor ops where the function has one.
"""

from __future__ import annotations

import math

import numpy as np

from theanine.graph.ops.elemwise import Elemwise, ScalarOp
from theanine.graph.ops.math import _float_function, ceil, exp, floor, less, second, where

__all__ = ["gcd", "lcm", "left_shift", "right_shift", "nextafter", "signbit", "fmod", "erfinv", "i0", "i1"]


def _row(name: str, nin: int, impl, grad=None):
    op = Elemwise(ScalarOp(name, nin, impl, grad))

    def apply(*args):
        return op(*args)

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = f"Elementwise ``{name}`` (NumPy's), with NumPy broadcasting and dtype promotion."
    return apply


def _scipy(name: str):
    """SciPy's special function ``name``, imported on first use (it slows ``import theanine``)."""

    def call(a):
        import scipy.special

        return getattr(scipy.special, name)(a)

    return _float_function(call)


def _trunc_quotient(a, b):
    """``trunc(a / b)`` as a graph: the factor of ``b`` in ``fmod``'s gradient."""
    quotient = a / b
    return where(less(quotient, 0), ceil(quotient), floor(quotient))


gcd = _row("gcd", 2, np.gcd)
lcm = _row("lcm", 2, np.lcm)
left_shift = _row("left_shift", 2, np.left_shift)
right_shift = _row("right_shift", 2, np.right_shift)
signbit = _row("signbit", 1, np.signbit)
nextafter = _row("nextafter", 2, np.nextafter, lambda x, o, g: [second(o[0], 0), second(o[0], 0)])
fmod = _row("fmod", 2, np.fmod, lambda x, o, g: [g[0], -g[0] * _trunc_quotient(x[0], x[1])])
erfinv = _row("erfinv", 1, _scipy("erfinv"), lambda x, o, g: [g[0] * (math.sqrt(math.pi) / 2) * exp(o[0] * o[0])])
i1 = _row("i1", 1, _scipy("i1"), lambda x, o, g: [g[0] * (i0(x[0]) - o[0] / x[0])])
i0 = _row("i0", 1, _scipy("i0"), lambda x, o, g: [g[0] * i1(x[0])])

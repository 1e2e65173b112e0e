"""Every elementwise scalar op has an emitter in every native printer, for every dtype it accepts.

A missing emitter would not fail anything else: the lowering quietly turns
the node into a host call of its NumPy ``perform``.  So this walks the graph
library's whole table of elementwise ops (``ELEMWISE_OPS``) and every cast,
over every dtype, and requires each printer to support what the graph
accepts.  A new native printer adds its ``supports`` to ``PRINTERS``.
"""

import itertools

import numpy as np
import pytest

import theanine as th
from theanine.codegen.cuda import scalar as cuda_scalar
from theanine.codegen.llvm import scalar as llvm_scalar
from theanine.codegen.program.kernel_ir import Call, HostCall
from theanine.codegen.program.lowering import lower
from theanine.graph.ops.math import ELEMWISE_OPS

PRINTERS = {"llvm": llvm_scalar.supports, "cuda": cuda_scalar.supports}
DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float16", "float32", "float64"]


def _accepted_nodes(name: str):
    """(in_dtypes, output) for each dtype the op accepts when all its inputs share it."""
    op = ELEMWISE_OPS[name]
    nin = op.scalar_op.nin
    for dtype in DTYPES:
        inputs = [th.tensor(f"x{k}", dtype, (None,)) for k in range(nin)]
        if name == "where":
            inputs[0] = th.tensor("c", "bool", (None,))
        try:
            out = op(*inputs)
        except (TypeError, ValueError):
            continue
        yield inputs, out


def _host_calls(inputs, outputs, supports) -> list:
    program = lower(inputs, outputs, supports)
    return [step for step in program.steps if isinstance(step, HostCall)]


@pytest.mark.parametrize("printer", sorted(PRINTERS))
@pytest.mark.parametrize("name", sorted(ELEMWISE_OPS))
def test_every_elementwise_op_has_an_emitter(printer, name):
    supports = PRINTERS[printer]
    missing = []
    accepted = 0
    for inputs, out in _accepted_nodes(name):
        accepted += 1
        if _host_calls(inputs, [out], supports):
            missing.append(f"{name}({', '.join(x.dtype for x in inputs)}) -> {out.dtype}")
    assert accepted > 0
    assert missing == []


@pytest.mark.parametrize("printer", sorted(PRINTERS))
def test_every_cast_has_an_emitter(printer):
    supports = PRINTERS[printer]
    missing = [
        f"{source} -> {target}"
        for source, target in itertools.product(DTYPES, DTYPES)
        if _host_calls([x := th.tensor("x", source, (None,))], [th.cast(x, target)], supports)
    ]
    assert missing == []


def test_a_missing_emitter_would_be_caught():
    """The check itself: a printer without ``exp`` reports exp's nodes as host calls."""

    def without_exp(name, in_dtypes, out_dtype):
        return name != "exp" and llvm_scalar.supports(name, in_dtypes, out_dtype)

    x = th.tensor("x", "float32", (None,))
    program = lower([x], [th.exp(x)], without_exp)
    assert [type(s.node.op).__name__ for s in program.steps if isinstance(s, HostCall)] == ["Elemwise"]
    assert not any(isinstance(e, Call) and e.op == "exp" for s in program.steps for e in getattr(s, "exprs", ()))


def test_bool_clip_compiles_natively_and_agrees_with_numpy():
    x, lo, hi = (th.tensor(n, "bool", (None,)) for n in "x lo hi".split())
    f = th.function([x, lo, hi], th.clip(x, lo, hi))
    assert f.python_fallbacks == []
    values = [np.array(v, dtype=bool) for v in ([0, 1, 0, 1], [0, 0, 1, 1], [0, 1, 1, 0])]
    np.testing.assert_array_equal(f(*values), np.clip(*values))

"""th.distributed ops at graph level, in-process (no MPI call: values run under mpirun in
tests/frontend/test_distributed.py): type checks, errors, no folding, native lowering."""

from __future__ import annotations

import numpy as np
import pytest

import theanine as th
from theanine.codegen.llvm import scalar
from theanine.codegen.program.kernel_ir import CollectiveCall, ElementwiseKernel, HostCall
from theanine.codegen.program.lowering import lower
from theanine.graph.ops.distributed import Allreduce, Broadcast


def test_types_are_kept():
    x = th.tensor("x", "float32", (None, 3))
    for y in (th.distributed.allreduce(x, "mean"), th.distributed.broadcast(x, root=1)):
        assert y.type == x.type


@pytest.mark.parametrize(
    "make, error, text",
    [
        (lambda x: th.distributed.allreduce(x, "prod"), ValueError, "op must be one of"),
        (lambda x: th.distributed.allreduce(th.cast(x, "int32"), "mean"), TypeError, "needs a float"),
        (lambda x: th.distributed.allreduce(th.cast(x, "float16")), TypeError, "dtype float16"),
        (lambda x: th.distributed.broadcast(x, root=-1), ValueError, "root=-1"),
    ],
)
def test_bad_arguments_are_named(make, error, text):
    with pytest.raises(error, match=text):
        make(th.tensor("x", "float32", (None, 3)))


def test_never_constant_folded():
    """Constant folding runs ``perform`` at compile time; a collective must run when called."""
    from theanine.graph.rewriting.canonicalize import constant_folding

    y = th.distributed.allreduce(th.constant(np.ones(3, "float32")))
    assert Allreduce("sum").deterministic is False and Broadcast(0).deterministic is False
    assert constant_folding.transform(y.owner) is None


def test_lowered_to_native_calls_with_views_copied_dense():
    x = th.tensor("x", "float32", (None, 3))
    program = lower([x], [th.distributed.allreduce(x.T, "mean"), th.distributed.broadcast(x)],
                    scalar.supports, True)
    kinds = [type(step) for step in program.steps]
    assert HostCall not in kinds
    assert kinds == [ElementwiseKernel, CollectiveCall, CollectiveCall]  # the transpose copied first
    assert [(s.kind, s.reduction) for s in program.steps[1:]] == [("allreduce", "mean"), ("broadcast", "sum")]


def test_reduce_to_root_stays_a_host_call():
    x = th.tensor("x", "float64", (3,))
    grad = th.grad(th.distributed.broadcast(x).sum(), x)
    program = lower([x], [grad], scalar.supports, True)
    assert any(isinstance(step, HostCall) for step in program.steps)

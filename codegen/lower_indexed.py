"""Lowering rules for ops that walk an axis in order or index with data:
ArgReduce, Cumulative, AdvancedSubtensor (gathers) and IncSubtensor (scatters)."""

from __future__ import annotations

from theanine.codegen.kernel_ir import ArgReduceKernel, ScanKernel
from theanine.codegen.lower import Lowerer, lowering
from theanine.graph.basic import Apply
from theanine.graph.ops.reduce import ArgReduce, Cumulative


@lowering(ArgReduce)
def _lower_arg_reduce(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    shape = lowerer.shape(x)
    out_shape = tuple(d for a, d in enumerate(shape) if a not in node.op.axes)
    source = lowerer.ref(x)
    index = lowerer.bind_new(out, out_shape)
    lowerer.steps.append(ArgReduceKernel(source, index, node.op.axes, node.op.kind, shape, node))
    return True


@lowering(Cumulative)
def _lower_cumulative(lowerer: Lowerer, node: Apply) -> bool:
    (x,), (out,) = node.inputs, node.outputs
    shape = lowerer.shape(x)
    source = lowerer.ref(x)
    index = lowerer.bind_new(out, shape)
    combine = "add" if node.op.kind == "sum" else "mul"
    lowerer.steps.append(ScanKernel(source, index, node.op.axis, combine, node.op.reverse, out.dtype, shape, node))
    return True

"""Elementwise ops: one ``Elemwise`` op class over a table of scalar ops.

A ``ScalarOp`` says what happens to one element: its NumPy implementation
(which also decides output dtypes, so promotion is NumPy's by construction)
and its gradient written in tensor ops.  ``Elemwise(scalar_op)`` lifts it to
tensors with NumPy broadcasting; every input is first brought to the output
rank with ``DimShuffle`` so kernels and gradients only see equal ranks.

Broadcasting is static: only a dimension whose static size is 1 broadcasts.
A dimension of unknown size (None) that turns out to be 1 at run time while
its partner is larger is an error, not a silent broadcast, so the gradient
(which must sum over broadcast axes) is fixed when the graph is built.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.tensor import as_tensor_variable, python_scalar_dtype
from theanine.graph.type import TensorType, format_shape, is_discrete

__all__ = ["ScalarOp", "Elemwise", "elemwise_inputs", "broadcast_shapes"]

GradFn = Callable[[Sequence[Variable], Sequence[Variable], Sequence[Variable]], list]


class ScalarOp:
    """What an elementwise op does to one element.

    ``impl`` is the NumPy implementation; ``grad(inputs, outputs, gouts)``
    returns one tensor expression (or None) per input at the broadcast
    shape; ``Elemwise`` sums it back to each input's shape.  Equality is by
    ``__props__`` as for ops.
    """

    __props__: tuple[str, ...] = ("name",)

    def __init__(self, name: str, nin: int, impl: Callable, grad: GradFn | None = None,
                 nout: int = 1, differentiable: bool = True):
        self.name = name
        self.nin = nin
        self.nout = nout
        self.impl = impl
        self._grad = grad
        self.differentiable = differentiable

    def _props(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__props__)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        return hash((type(self), self._props()))

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__

    def output_dtypes(self, input_dtypes: Sequence[str]) -> list[str]:
        """The dtypes NumPy's implementation gives for these input dtypes."""
        dummies = [np.zeros((), dtype=d) for d in input_dtypes]
        try:
            with np.errstate(all="ignore"):
                result = self.impl(*dummies)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"{self.name} is not defined for dtypes {list(input_dtypes)}: {exc}") from exc
        results = result if isinstance(result, tuple) else (result,)
        return [np.asarray(r).dtype.name for r in results]

    def grad(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
             gouts: Sequence[Variable]) -> list[Variable | None]:
        if self._grad is None:
            return [None] * len(inputs)
        return list(self._grad(inputs, outputs, gouts))


def broadcast_shapes(shapes: Sequence[tuple[int | None, ...]], what: str) -> tuple[int | None, ...]:
    """The static broadcast of equal-rank shapes, or a ValueError naming them."""
    out = []
    for axis, dims in enumerate(zip(*shapes)):
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            listed = " and ".join(format_shape(s) for s in shapes)
            raise ValueError(f"{what}: shapes {listed} do not broadcast (dimension {axis}: {sorted(sizes)})")
        if sizes:
            out.append(sizes.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def elemwise_inputs(values: Sequence) -> list[Variable]:
    """Turn operands into tensor variables, treating Python numbers as NumPy 2 does.

    A Python int/float/bool beside tensors is "weak": it takes the dtype the
    tensors dictate (``x_float32 * 2.0`` stays float32), which NumPy's own
    ``result_type`` computes for us.
    """
    strong_dtypes = [as_tensor_variable(v).dtype for v in values if not _is_python_number(v)]
    out = []
    for value in values:
        if _is_python_number(value):
            if strong_dtypes:
                try:
                    dtype = np.result_type(*strong_dtypes, value).name
                except (TypeError, OverflowError) as exc:
                    raise TypeError(f"cannot combine {value!r} with dtypes {strong_dtypes}: {exc}") from exc
            else:
                dtype = python_scalar_dtype(value)
            try:
                out.append(Constant(np.asarray(value, dtype=dtype)))
            except OverflowError as exc:
                raise OverflowError(f"Python number {value!r} does not fit dtype {dtype}: {exc}") from exc
        else:
            out.append(as_tensor_variable(value))
    return out


def _is_python_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (np.generic, Variable))


class Elemwise(Op):
    """A scalar op applied element by element with broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op: ScalarOp):
        self.scalar_op = scalar_op

    def __str__(self) -> str:
        return f"Elemwise{{{self.scalar_op}}}"

    def make_node(self, *inputs) -> Apply:
        if len(inputs) != self.scalar_op.nin:
            raise TypeError(f"{self.scalar_op.name} takes {self.scalar_op.nin} inputs, got {len(inputs)}")
        tensors = elemwise_inputs(inputs)
        ndim = max(t.ndim for t in tensors)
        tensors = [_pad_rank(t, ndim) for t in tensors]
        shape = broadcast_shapes([t.type.shape for t in tensors], self.scalar_op.name)
        dtypes = self.scalar_op.output_dtypes([t.dtype for t in tensors])
        return Apply(self, tensors, [TensorType(d, shape) for d in dtypes])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        check_runtime_broadcast(node, inputs)
        with np.errstate(all="ignore"):
            result = self.scalar_op.impl(*inputs)
        results = result if isinstance(result, tuple) else (result,)
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(results, node.outputs)]

    def infer_shape(self, node: Apply, input_shapes: Sequence[tuple]) -> list[tuple]:
        out = []
        for axis, static in enumerate(node.outputs[0].type.shape):
            if static is not None:
                out.append(static)
                continue
            out.append(next(s[axis] for t, s in zip(node.inputs, input_shapes) if t.type.shape[axis] != 1))
        return [tuple(out)] * len(node.outputs)

    def L_op(self, inputs, outputs, output_grads):
        if any(is_discrete(o.dtype) for o in outputs) or not self.scalar_op.differentiable:
            return [None] * len(inputs)
        grads = self.scalar_op.grad(inputs, outputs, output_grads)
        return [_unbroadcast(g, x) for g, x in zip(grads, inputs)]

    def R_op(self, inputs, eval_points):
        """Elementwise Jacobians are diagonal: sum_i d out/d x_i * v_i."""
        if self.scalar_op.nout != 1:
            raise NotImplementedError(f"{self} has several outputs; no R_op")
        out = self(*inputs)
        if is_discrete(out.dtype) or not self.scalar_op.differentiable:
            return [None]
        from theanine.graph.ops.creation import ones_like

        partials = self.scalar_op.grad(inputs, [out], [ones_like(out)])
        total = None
        for partial, point, x in zip(partials, eval_points, inputs):
            if partial is None or point is None or is_discrete(x.dtype):
                continue
            term = partial * point
            total = term if total is None else total + term
        return [total]


def check_runtime_broadcast(node: Apply, inputs: Sequence[np.ndarray]) -> None:
    """Raise when dims of unknown static size disagree at run time."""
    out_shape = node.outputs[0].type.shape
    for axis in range(len(out_shape)):
        sizes = {x.shape[axis] for x, v in zip(inputs, node.inputs) if v.type.shape[axis] != 1}
        if len(sizes) > 1:
            shapes = ", ".join(str(x.shape) for x in inputs)
            raise ValueError(
                f"shape mismatch on dimension {axis}: input shapes {shapes} do not match "
                "(only dimensions declared with static size 1 broadcast)"
            )


def _pad_rank(var: Variable, ndim: int) -> Variable:
    if var.ndim == ndim:
        return var
    from theanine.graph.ops.shape import DimShuffle

    pattern = ("x",) * (ndim - var.ndim) + tuple(range(var.ndim))
    return DimShuffle(pattern)(var)


def _unbroadcast(grad: Variable | None, x: Variable) -> Variable | None:
    """Sum ``grad`` over the axes along which ``x`` was broadcast."""
    if grad is None or is_discrete(x.dtype):
        return None
    axes = tuple(
        axis for axis, (xd, gd) in enumerate(zip(x.type.shape, grad.type.shape)) if xd == 1 and gd != 1
    )
    if axes:
        from theanine.graph.ops.reduce import sum as reduce_sum

        grad = reduce_sum(grad, axis=axes, keepdims=True)
    if grad.dtype != x.dtype:
        from theanine.graph.ops.math import cast

        grad = cast(grad, x.dtype)
    return grad

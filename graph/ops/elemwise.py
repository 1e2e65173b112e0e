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

Python numbers follow NumPy 2 (NEP 50): beside tensors they are "weak" and
take the dtype NumPy computes in (``x_float32 * 2.0`` is float32,
``x_int32 * 1.5`` float64, ``x_int8 / 1000`` float64, ``x_int8 + 200``
raises OverflowError).  Comparisons accept any
Python int (``x_uint8 < -1`` is all False) and ``clip`` clamps out-of-range
integer bounds, as NumPy does.  When every operand is a Python number they
are converted together, a float result taking ``config.floatX``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from theanine.graph import ops
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.config import config
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import pad_rank
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete

__all__ = ["ScalarOp", "Elemwise", "elemwise_inputs", "weak_dtype", "broadcast_shapes"]

GradFn = Callable[[Sequence[Variable], Sequence[Variable], Sequence[Variable]], list]

# How a Python int that does not fit the operands' integer dtype is treated.
OUT_OF_RANGE_POLICIES = ("raise", "widen", "clamp")


class ScalarOp:
    """What an elementwise op does to one element.

    ``impl`` is the NumPy implementation; ``grad(inputs, outputs, gouts)``
    returns one tensor expression (or None) per input at the broadcast
    shape; ``Elemwise`` sums it back to each input's shape.
    ``nondiff_inputs`` lists inputs the output never depends on
    differentiably (``where``'s condition, ``second``'s shape model).
    ``out_of_range_ints`` says what a Python int outside the operands'
    integer dtype does: "raise" (NumPy's arithmetic), "widen" (NumPy's
    comparisons) or "clamp" (NumPy's clip bounds).  ``takes_strings``
    marks the ops defined on string tensors (equality, selection, the
    string functions of ``strings.py``).  Equality is by ``__props__`` as
    for ops.
    """

    __props__: tuple[str, ...] = ("name",)

    def __init__(
        self,
        name: str,
        nin: int,
        impl: Callable,
        grad: GradFn | None = None,
        nout: int = 1,
        differentiable: bool = True,
        nondiff_inputs: Sequence[int] = (),
        out_of_range_ints: str = "raise",
        takes_strings: bool = False,
    ):
        if out_of_range_ints not in OUT_OF_RANGE_POLICIES:
            raise ValueError(
                f"out_of_range_ints must be one of {OUT_OF_RANGE_POLICIES}. "
                f"Received: {out_of_range_ints!r}"
            )
        self.name = name
        self.nin = nin
        self.nout = nout
        self.impl = impl
        self._grad = grad
        self.differentiable = differentiable and grad is not None
        self.nondiff_inputs = tuple(nondiff_inputs)
        self.out_of_range_ints = out_of_range_ints
        self.takes_strings = takes_strings

    def _props(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__props__)

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        return self._props() == other._props()

    def __hash__(self) -> int:
        """Computed once: the parameters never change (rewrites hash ops all the time)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash((type(self), self._props()))
        return cached

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
            raise TypeError(
                f"{self.name} is not defined for input dtypes {list(input_dtypes)} "
                f"(as in NumPy): {exc}"
            ) from exc
        results = result if isinstance(result, tuple) else (result,)
        return [np.asarray(r).dtype.name for r in results]

    def grad(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], gouts: Sequence[Variable]
    ) -> list[Variable | None]:
        if self._grad is None:
            return [None] * len(inputs)
        return list(self._grad(inputs, outputs, gouts))


def broadcast_shapes(shapes: Sequence[tuple[int | None, ...]], what: str) -> tuple[int | None, ...]:
    """The static NumPy broadcast of ``shapes`` (ranks aligned on the right).

    Raises a ValueError naming ``what`` and every shape as the user gave it.
    """
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, dims in enumerate(zip(*padded, strict=True)):
        sizes = sorted({d for d in dims if d is not None and d != 1})
        if len(sizes) > 1:
            listed = " and ".join(format_shape(tuple(s)) for s in shapes)
            raise ValueError(
                f"{what}: shapes {listed} do not broadcast: dimension {axis - ndim} has sizes "
                f"{' and '.join(map(str, sizes))} (only equal sizes or a static 1 broadcast)"
            )
        if sizes:
            out.append(sizes[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def elemwise_inputs(values: Sequence, scalar_op: ScalarOp | None = None) -> list[Variable]:
    """Turn operands into tensor variables, treating Python numbers as NumPy 2 does.

    A Python int/float beside tensors is "weak": it takes the dtype NumPy
    would convert it to for this op (``x_float32 * 2.0`` stays float32);
    see ``weak_dtype``.  A Python bool is an ordinary (strong) bool.
    """
    strong = {i: as_tensor_variable(v) for i, v in enumerate(values) if not _is_python_number(v)}
    if not strong:
        return _all_python_numbers(values)
    operands = [strong[i].type.dtype if i in strong else v for i, v in enumerate(values)]
    policy = scalar_op.out_of_range_ints if scalar_op is not None else "raise"
    return [
        strong[i]
        if i in strong
        else _weak_constant(v, weak_dtype(scalar_op, operands, i), operands, policy)
        for i, v in enumerate(values)
    ]


def weak_dtype(scalar_op: ScalarOp | None, operands: Sequence, index: int) -> np.dtype:
    """The dtype NumPy 2 converts the Python number ``operands[index]`` to.

    ``operands`` holds dtype names for tensors and the Python numbers
    themselves.  For a ufunc it is the dtype of the inner loop NumPy picks
    (``x_int8 / 2`` divides in float64, ``arctan2(x_int8, 2)`` in float16,
    ``x_int8 + 2`` adds in int8); otherwise NumPy's ``result_type`` of all
    operands, the numbers weak (as ``np.where`` and ``np.clip`` do).
    """
    impl = scalar_op.impl if scalar_op is not None else None
    if isinstance(impl, np.ufunc):
        spec = tuple(np.dtype(o) if isinstance(o, str) else _weak_python_type(o) for o in operands)
        try:
            return impl.resolve_dtypes(spec + (None,) * impl.nout)[index]
        except (TypeError, ValueError):
            pass
    try:
        return np.result_type(*operands)
    except TypeError as exc:
        raise TypeError(f"cannot combine operands {list(operands)!r}: {exc}") from exc


def _weak_python_type(value):
    """What ``ufunc.resolve_dtypes`` takes for a Python number: its type, bool as np.bool."""
    return np.dtype(bool) if isinstance(value, bool) else type(value)


def _is_python_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (np.generic, Variable))


def _all_python_numbers(values: Sequence) -> list[Variable]:
    """Python numbers alone: NumPy's common dtype, floats in ``config.floatX``."""
    try:
        dtype = np.result_type(*values)
    except TypeError as exc:
        raise TypeError(f"cannot combine Python values {list(values)!r}: {exc}") from exc
    if dtype.kind == "f":
        dtype = np.dtype(config.floatX)
    return [Constant(np.asarray(v, dtype=dtype)) for v in values]


def _weak_constant(value, dtype: np.dtype, operands: Sequence, policy: str) -> Constant:
    """A constant holding the Python number ``value`` in ``dtype``, or per ``policy``."""
    if (
        dtype.kind not in "iub"
        or isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
    ):
        return Constant(np.asarray(value, dtype=dtype))
    low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    if dtype.kind == "b" or low <= value <= high:
        return Constant(np.asarray(value, dtype=dtype))
    if policy == "clamp":
        return Constant(np.asarray(min(max(value, low), high), dtype=dtype))
    if policy == "widen":
        int64 = np.iinfo("int64")
        return Constant(
            np.asarray(value, dtype="int64" if int64.min <= value <= int64.max else "float64")
        )
    tensors = ", ".join(o for o in operands if isinstance(o, str))
    raise OverflowError(
        f"Python integer {value} is out of bounds for {dtype.name}, "
        "the dtype NumPy computes in for "
        f"operands of dtype {tensors}; cast them first, e.g. x.astype('int64')"
    )


class Elemwise(Op):
    """A scalar op applied element by element with broadcasting."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op: ScalarOp):
        self.scalar_op = scalar_op

    def __str__(self) -> str:
        return f"Elemwise{{{self.scalar_op}}}"

    @property
    def takes_strings(self) -> bool:
        return getattr(self.scalar_op, "takes_strings", False)

    def inner_graphs(self):
        """A fused Elemwise shows its Composite's inner graph to printers and passes."""
        inner = getattr(self.scalar_op, "inner_graphs", None)
        return inner() if inner is not None else []

    def make_node(self, *inputs) -> Apply:
        name = self.scalar_op.name
        if len(inputs) != self.scalar_op.nin:
            raise TypeError(
                f"{name} expected {self.scalar_op.nin} input(s). Received: {len(inputs)} input(s)"
            )
        tensors = elemwise_inputs(inputs, self.scalar_op)
        shape = broadcast_shapes([t.type.shape for t in tensors], name)
        tensors = [pad_rank(t, len(shape)) for t in tensors]
        dtypes = self.scalar_op.output_dtypes([t.dtype for t in tensors])
        return Apply(self, tensors, [TensorType(d, shape) for d in dtypes])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        check_runtime_broadcast(node, inputs)
        with np.errstate(all="ignore"):
            result = self.scalar_op.impl(*inputs)
        results = result if isinstance(result, tuple) else (result,)
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(results, node.outputs, strict=True)]

    def infer_shape(self, node: Apply, input_shapes: Sequence[tuple]) -> list[tuple]:
        out = []
        for axis, static in enumerate(node.outputs[0].type.shape):
            if static is not None:
                out.append(static)
                continue
            out.append(
                next(
                    s[axis]
                    for t, s in zip(node.inputs, input_shapes, strict=True)
                    if t.type.shape[axis] != 1
                )
            )
        return [tuple(out)] * len(node.outputs)

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """Float inputs of a differentiable op reach its float outputs."""
        return [
            [self._differentiable_pair(i, x, out) for out in node.outputs]
            for i, x in enumerate(node.inputs)
        ]

    def _differentiable_pair(self, index: int, x: Variable, out: Variable) -> bool:
        return (
            self.scalar_op.differentiable
            and index not in self.scalar_op.nondiff_inputs
            and not is_discrete(x.dtype)
            and not is_discrete(out.dtype)
        )

    def L_op(self, inputs, outputs, output_grads):
        if any(is_discrete(o.dtype) for o in outputs) or not self.scalar_op.differentiable:
            return [None] * len(inputs)
        grads = self.scalar_op.grad(inputs, outputs, output_grads)
        return [ops.gradient_helpers.unbroadcast(g, x) for g, x in zip(grads, inputs, strict=True)]

    def R_op(self, inputs, eval_points):
        """Elementwise Jacobians are diagonal: sum_i d out/d x_i * v_i."""
        if self.scalar_op.nout != 1:
            raise NotImplementedError(f"{self} has several outputs; no R_op")
        out = self(*inputs)
        if is_discrete(out.dtype) or not self.scalar_op.differentiable:
            return [None]
        partials = self.scalar_op.grad(inputs, [out], [ops.creation.ones_like(out)])
        terms = [
            partial * point
            for i, (partial, point, x) in enumerate(zip(partials, eval_points, inputs, strict=True))
            if partial is not None and point is not None and self._differentiable_pair(i, x, out)
        ]
        if not terms:
            return [None]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return [ops.gradient_helpers.broadcast_like(total, out)]


def check_runtime_broadcast(node: Apply, inputs: Sequence[np.ndarray]) -> None:
    """Raise when dims of unknown static size disagree at run time."""
    out_shape = node.outputs[0].type.shape
    for axis in range(len(out_shape)):
        sizes = sorted(
            {
                x.shape[axis]
                for x, v in zip(inputs, node.inputs, strict=True)
                if v.type.shape[axis] != 1
            }
        )
        if len(sizes) > 1:
            shapes = " and ".join(str(tuple(x.shape)) for x in inputs)
            declared = " and ".join(format_shape(v.type.shape) for v in node.inputs)
            raise ValueError(
                f"{node.op.scalar_op.name}: input shapes {shapes} do not match on dimension {axis} "
                f"(sizes {' and '.join(map(str, sizes))}); "
                f"the inputs were declared {declared}, and "
                "only dimensions declared with static size 1 broadcast"
            )

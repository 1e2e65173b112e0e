"""Linear algebra: matmul, dot, tensordot, outer.

One op class, ``MatMul``, carries np.matmul's semantics for operands of
rank >= 1: a stack of matrix products over broadcast batch dimensions,
with NumPy's promotion of 1-D operands (a leading 1-D operand is a row,
a trailing one a column, and the added axis is removed from the result).
``dot``, ``tensordot`` and ``outer`` are built from it with transposes,
reshapes and elementwise products, so their gradients and R_ops are those
of the ops they are made of.

Batch dimensions broadcast statically, like elementwise ops: only a
dimension of static size 1 broadcasts, so the gradient (which sums over
broadcast batch dimensions) is fixed when the graph is built.  Contracted
dimensions that disagree statically raise ValueError at construction,
naming both shapes; unknown (None) ones are checked by NumPy at run time.
Output dtypes are NumPy's (``int8 @ int8`` is int8, ``bool @ bool`` bool).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import DimShuffle, expand_dims, transpose
from theanine.graph.ops.elemwise import broadcast_shapes
from theanine.graph.ops.gradient_helpers import sum_to_shape
from theanine.graph.ops.math import multiply
from theanine.graph.ops.reshape import flatten, reshape
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_discrete

__all__ = ["MatMul", "matmul", "dot", "tensordot", "outer"]


def _check_aligned(what: str, a, b, a_axis: int, b_axis: int) -> None:
    """ValueError naming both shapes when the contracted dims differ statically."""
    size_a, size_b = a.type.shape[a_axis], b.type.shape[b_axis]
    if size_a is not None and size_b is not None and size_a != size_b:
        raise ValueError(
            f"{what}: shapes {format_shape(a.type.shape)} and {format_shape(b.type.shape)} "
            "are not aligned: "
            f"dimension {a_axis % a.ndim} of the first ({size_a}) != dimension {b_axis % b.ndim} "
            f"of the second ({size_b})"
        )


def _core_shapes(a_shape: tuple, b_shape: tuple) -> tuple[tuple, tuple]:
    """np.matmul's promotion: a 1-D left operand becomes a row, a 1-D right one a column."""
    a2 = a_shape if len(a_shape) >= 2 else (1,) + tuple(a_shape)
    b2 = b_shape if len(b_shape) >= 2 else tuple(b_shape) + (1,)
    return a2, b2


def _padded_batches(a2: tuple, b2: tuple) -> tuple[tuple, tuple]:
    """The batch parts of both operands, left-padded with 1s to a common rank."""
    rank = max(len(a2), len(b2)) - 2
    pad_a, pad_b = rank - len(a2) + 2, rank - len(b2) + 2
    return (1,) * pad_a + tuple(a2[:-2]), (1,) * pad_b + tuple(b2[:-2])


def _matmul_dtype(a_dtype: str, b_dtype: str) -> str:
    try:
        return np.matmul(np.zeros((1, 1), a_dtype), np.zeros((1, 1), b_dtype)).dtype.name
    except TypeError as exc:
        raise TypeError(f"matmul is not defined for dtypes {a_dtype} and {b_dtype}: {exc}") from exc


class MatMul(Op):
    """np.matmul for operands of rank >= 1 (no parameters)."""

    def make_node(self, a, b) -> Apply:
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: operands must have rank >= 1 (use multiply for scalars). Received shapes "
                f"{format_shape(a.type.shape)} and {format_shape(b.type.shape)}"
            )
        _check_aligned("matmul", a, b, -1, 0 if b.ndim == 1 else -2)
        a2, b2 = _core_shapes(a.type.shape, b.type.shape)
        batch_a, batch_b = _padded_batches(a2, b2)
        shapes = f"{format_shape(a.type.shape)} and {format_shape(b.type.shape)}"
        what = f"matmul of shapes {shapes} (batch dimensions)"
        batch = broadcast_shapes([batch_a, batch_b], what)
        shape = batch + a2[-2:-1] * (a.ndim >= 2) + b2[-1:] * (b.ndim >= 2)
        return Apply(self, [a, b], [TensorType(_matmul_dtype(a.dtype, b.dtype), shape)])

    def perform(self, node, inputs):
        a, b = inputs
        self._check_runtime_batches(node, a, b)
        return [np.asarray(np.matmul(a, b), dtype=node.outputs[0].dtype)]

    @staticmethod
    def _check_runtime_batches(node, a, b) -> None:
        """Batch dims of unknown static size must agree at run time (no implicit broadcast)."""
        static = [v.type.shape for v in node.inputs]
        static_a, static_b = _padded_batches(*_core_shapes(*static))
        real_a, real_b = _padded_batches(*_core_shapes(a.shape, b.shape))
        dims = zip(static_a, static_b, real_a, real_b, strict=True)
        for axis, (sa, sb, ra, rb) in enumerate(dims):
            if sa != 1 and sb != 1 and ra != rb:
                raise ValueError(
                    f"matmul: batch dimension {axis} differs: shapes {a.shape} and {b.shape} "
                    "(only batch dimensions declared with static size 1 broadcast)"
                )

    def infer_shape(self, node, input_shapes):
        a, b = node.inputs
        a2, b2 = _core_shapes(input_shapes[0], input_shapes[1])
        static_a, static_b = _padded_batches(*_core_shapes(a.type.shape, b.type.shape))
        real_a, real_b = _padded_batches(a2, b2)
        dims = zip(static_a, real_a, real_b, strict=True)
        batch = tuple(ra if sa != 1 else rb for sa, ra, rb in dims)
        return [batch + tuple(a2[-2:-1]) * (a.ndim >= 2) + tuple(b2[-1:]) * (b.ndim >= 2)]

    def L_op(self, inputs, outputs, output_grads):
        """dA = G @ B^T and dB = A^T @ G, summed over the batch dims each was broadcast along."""
        a, b = inputs
        (g,) = output_grads
        a2, b2, g2 = _promoted(a, b, g)
        grad_a = None if is_discrete(a.dtype) else _reduce_to(matmul(g2, _swap_last(b2)), a, a2, 0)
        grad_b = None if is_discrete(b.dtype) else _reduce_to(matmul(_swap_last(a2), g2), b, b2, 1)
        return [grad_a, grad_b]

    def R_op(self, inputs, eval_points):
        """Product rule: d(A @ B) = dA @ B + A @ dB."""
        a, b = inputs
        va, vb = eval_points
        terms = []
        if va is not None and not is_discrete(a.dtype):
            terms.append(self(va, b))
        if vb is not None and not is_discrete(b.dtype):
            terms.append(self(a, vb))
        if not terms or is_discrete(_matmul_dtype(a.dtype, b.dtype)):
            return [None]
        return [terms[0] if len(terms) == 1 else terms[0] + terms[1]]


def _promoted(a, b, g):
    """Operands and output gradient with np.matmul's 1-D promotions made explicit."""
    a2 = a if a.ndim >= 2 else expand_dims(a, 0)
    b2 = b if b.ndim >= 2 else expand_dims(b, -1)
    if a.ndim == 1:
        g = expand_dims(g, g.ndim - (0 if b.ndim == 1 else 1))
    if b.ndim == 1:
        g = expand_dims(g, -1)
    return a2, b2, g


def _swap_last(x):
    return DimShuffle(list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])(x)


def _reduce_to(grad, x, x2, promoted_axis: int):
    """Sum ``grad`` (shaped like a broadcast ``x2``) back to ``x``: over the batch dims ``x2``
    lacks or broadcast along; for a 1-D ``x`` the axis added by promotion (``promoted_axis``
    of ``x2``, static size 1) is dropped again."""
    grad = sum_to_shape(grad, x2.type.shape)
    return DimShuffle([1 - promoted_axis])(grad) if x.ndim == 1 else grad


_matmul = MatMul()


def matmul(a, b):
    """np.matmul: matrix products over broadcast batch dimensions (``a @ b``)."""
    return _matmul(a, b)


def dot(a, b):
    """np.dot: a product for scalars, matmul for ranks <= 2 and for an N-D
    tensor times a 1-D or 2-D one, else a tensordot over the last axis of
    ``a`` and the second-to-last of ``b``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    b_axis = 0 if b.ndim == 1 else b.ndim - 2
    _check_aligned("dot", a, b, a.ndim - 1, b_axis)
    if b.ndim <= 2 or a.ndim == 1:
        return matmul(a, b)
    return tensordot(a, b, axes=([a.ndim - 1], [b_axis]))


def _tensordot_axes(axes, a_ndim: int, b_ndim: int) -> tuple[list[int], list[int]]:
    """np.tensordot's ``axes``: an int n (last n of a, first n of b) or two sequences."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if not 0 <= axes <= min(a_ndim, b_ndim):
            raise ValueError(
                f"tensordot: axes={axes} must be between 0 and the smaller rank "
                f"({min(a_ndim, b_ndim)}) of operands of rank {a_ndim} and {b_ndim}"
            )
        return list(range(a_ndim - axes, a_ndim)), list(range(axes))
    try:
        a_axes, b_axes = axes
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"tensordot: axes must be an int or a pair of axis lists. Received: axes={axes!r}"
        ) from exc
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"tensordot: axes {a_axes} and {b_axes} must have the same length")
    return _normalized(a_axes, a_ndim), _normalized(b_axes, b_ndim)


def _normalized(axes: Sequence[int], ndim: int) -> list[int]:
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"tensordot: axis {axis} is out of bounds for an operand of rank {ndim}"
            )
        out.append(int(axis) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"tensordot: repeated axis in {list(axes)}")
    return out


def _dims(x, axes: Sequence[int]) -> list:
    """Sizes of ``axes`` of ``x``: Python ints where static, int64 scalars otherwise."""
    return [x.type.shape[i] if x.type.shape[i] is not None else x.shape[i] for i in axes]


def _product(dims: Sequence):
    total = 1
    for dim in dims:
        total = total * dim
    return total


def tensordot(a, b, axes=2):
    """np.tensordot: sum products over ``axes`` of ``a`` and ``b``.

    The operands are transposed to (free, summed) and (summed, free),
    reshaped to matrices, multiplied by one matmul, and reshaped to
    ``a``'s free dims followed by ``b``'s.
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a_axes, b_axes = _tensordot_axes(axes, a.ndim, b.ndim)
    for a_axis, b_axis in zip(a_axes, b_axes, strict=True):
        _check_aligned("tensordot", a, b, a_axis, b_axis)
    free_a = [i for i in range(a.ndim) if i not in a_axes]
    free_b = [i for i in range(b.ndim) if i not in b_axes]
    if not a_axes:
        a_part = DimShuffle(free_a + ["x"] * len(free_b))(a)
        return a_part * DimShuffle(["x"] * len(free_a) + free_b)(b)
    summed = _product(_dims(a, a_axes))
    a_matrix = reshape(transpose(a, free_a + a_axes), (_product(_dims(a, free_a)), summed))
    b_matrix = reshape(transpose(b, b_axes + free_b), (summed, _product(_dims(b, free_b))))
    return reshape(matmul(a_matrix, b_matrix), tuple(_dims(a, free_a) + _dims(b, free_b)))


def outer(a, b):
    """np.outer: every element of flattened ``a`` times every element of flattened ``b``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a = a if a.ndim == 1 else flatten(a, 1)
    b = b if b.ndim == 1 else flatten(b, 1)
    return DimShuffle([0, "x"])(a) * DimShuffle(["x", 0])(b)

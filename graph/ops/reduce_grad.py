"""Gradients and R_ops of the reductions, kept apart from the forward definitions.

Conventions (each documented where it is implemented):

- max / min send the whole gradient to the FIRST extremal element of each
  reduced block in C order, the element ``np.argmax`` / ``np.argmin`` pick,
  so ``max(x)`` and ``x[argmax(x)]`` have the same gradient.  Ties do not
  split the gradient.  An element equal to NaN is never selected.
- prod and cumprod are exact when ``x`` holds zeros: no division by zero
  happens; blocks with one zero send ``g * (product of the others)`` to that
  zero, blocks with two or more zeros have zero gradient.
- all / any and the discrete ops have no gradient (None).
"""

from __future__ import annotations

from theanine.graph import ops
from theanine.graph.ops.math import equal, logical_and, where
from theanine.graph.ops.reduce import Cumulative, Reduce, keep_reduced_dims
from theanine.graph.ops.reduce import sum as reduce_sum
from theanine.graph.type import is_discrete


def _expand(g, axes):
    return keep_reduced_dims(g, axes)


def _broadcast_back(g, x, axes):
    """Re-insert the reduced axes of ``g`` and broadcast it to ``x``'s shape."""
    return ops.creation.zeros_like(x, dtype=g.dtype) + _expand(g, axes)


def first_true(mask, axes: tuple[int, ...]):
    """Keep only the first True of each block of ``mask`` over ``axes``, in C order.

    The number of Trues before each position (in C order within its block)
    is a sum of exclusive running counts, one per reduced axis: along the
    outer axis count whole earlier sub-blocks, along inner axes the earlier
    entries of the same sub-block.  A position is first when it is True and
    that number is 0.
    """
    if not axes:
        return mask
    partial = mask
    earlier = None
    for position, axis in reversed(list(enumerate(axes))):
        if position < len(axes) - 1:
            partial = reduce_sum(partial, axes[position + 1], keepdims=True)
        exclusive = Cumulative("sum", axis)(partial) - partial
        earlier = exclusive if earlier is None else earlier + exclusive
    return logical_and(mask, equal(earlier, 0))


def extremum_mask(x, out, axes: tuple[int, ...]):
    """Bool mask of the element that max/min (value ``out``) selects in each block."""
    return first_true(equal(x, _expand(out, axes)), axes)


def _sum_grad(op, x, out, gz):
    return _broadcast_back(gz, x, op.axes)


def _extremum_grad(op, x, out, gz):
    """All of ``gz`` to the first extremal element (np.argmax's), zero elsewhere."""
    return where(extremum_mask(x, out, op.axes), _expand(gz, op.axes), 0)


def _prod_grad(op, x, out, gz):
    """d prod / d x_i = product of the others, computed without dividing by zero.

    Per block: no zero -> ``g * prod / x``; exactly one zero -> that zero
    gets ``g * prod(nonzeros)``, the rest 0; two or more zeros -> all 0.
    """
    axes = op.axes
    is_zero = equal(x, 0)
    zero_count = _expand(Reduce("sum", axes)(is_zero), axes)
    safe_x = where(is_zero, 1, x)
    g = _expand(gz, axes)
    product_of_nonzeros = _expand(Reduce("prod", axes, op.dtype)(safe_x), axes)
    without_zeros = g * _expand(out, axes) / safe_x
    at_single_zero = where(logical_and(equal(zero_count, 1), is_zero), g * product_of_nonzeros, 0)
    return where(equal(zero_count, 0), without_zeros, at_single_zero)


_REDUCE_GRADS = {"sum": _sum_grad, "prod": _prod_grad, "max": _extremum_grad, "min": _extremum_grad}


def reduce_grad(op, inputs, outputs, output_grads):
    """L_op of ``Reduce``: dispatch on the reduction's kind."""
    (x,), (out,), (gz,) = inputs, outputs, output_grads
    if is_discrete(x.dtype) or is_discrete(out.dtype):
        return [None]
    return [_REDUCE_GRADS[op.kind](op, x, out, gz)]


def reduce_rop(op, inputs, eval_points):
    """R_op of ``Reduce``: linear for sum, the selected element's tangent for max/min."""
    (x,), (v,) = inputs, eval_points
    if v is None or is_discrete(x.dtype) or op.kind in ("all", "any"):
        return [None]
    if op.kind == "sum":
        return [op(v)]
    if op.kind in ("max", "min"):
        out = op(x)
        return [Reduce("sum", op.axes)(where(extremum_mask(x, out, op.axes), v, 0))]
    raise NotImplementedError(f"{op} has no R_op of its own")


def _cumsum_grad(op, x, out, gz):
    """The transpose of a running sum is a running sum in the other direction."""
    return Cumulative("sum", op.axis, not op.reverse)(gz)


def _cumprod_grad(op, x, out, gz):
    """d/dx_j of sum_i g_i y_i (y = cumprod x), exact when ``x`` holds zeros.

    Before the first zero of a line: ``rcumsum(g * y)_j / x_j``.  At the first
    zero k: ``rcumsum(g * y')_k`` where y' is the cumprod with x_k set to 1.
    After it: 0 (every later y_i holds the factor x_k = 0).  ``rcumsum`` runs
    against the op's direction.
    """
    forward = Cumulative("sum", op.axis, op.reverse)
    backward = Cumulative("sum", op.axis, not op.reverse)
    is_zero = equal(x, 0)
    zeros_so_far = forward(is_zero)
    first_zero = logical_and(is_zero, equal(zeros_so_far, 1))
    before_zeros = backward(gz * out) / where(is_zero, 1, x)
    skip_zero = Cumulative("prod", op.axis, op.reverse)(where(first_zero, 1, x))
    at_first_zero = where(first_zero, backward(gz * skip_zero), 0)
    return where(equal(zeros_so_far, 0), before_zeros, at_first_zero)


_CUMULATIVE_GRADS = {"sum": _cumsum_grad, "prod": _cumprod_grad}


def cumulative_grad(op, inputs, outputs, output_grads):
    """L_op of ``Cumulative``: dispatch on sum / prod."""
    (x,), (out,), (gz,) = inputs, outputs, output_grads
    if is_discrete(x.dtype):
        return [None]
    return [_CUMULATIVE_GRADS[op.kind](op, x, out, gz)]

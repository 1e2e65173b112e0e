"""BLAS-shaped ops: ``Gemm`` (``alpha * A @ B + beta * C``) and ``Gemv`` (its matrix-vector twin).

Users never build these: the specialize rewrites turn ``x @ W + b`` and
``W - lr * (a.T @ g)`` into one ``Gemm`` (and the 1-D cases into ``Gemv``),
so a backend can make one BLAS call that also applies the scale and the
addend, and the inplace phase can let the call write into ``C``.

Rules shared by both ops:

- ``alpha`` and ``beta`` are Python floats (op parameters, hashable);
  NumPy applies them as weak scalars, so a float32 product stays float32.
- ``A``, ``B`` (or ``x``) and ``C`` (or ``y``) share one float dtype: the
  rewrites only fire where the unfused graph computed in that dtype.
- ``C`` broadcasts to the product's shape with the static rules of
  ``Elemwise`` (only a static 1 broadcasts); it is first brought to the
  product's rank.  With ``beta == 0`` the values of ``C`` are not read
  (as in BLAS: a nan there does not leak into the result).
- ``inplace=True`` declares ``destroy_map = {0: [0]}``: the result is
  written into ``C``'s storage.  Only the inplace phase builds it, after its
  destroy handler proved that nothing reads ``C`` afterwards; ``C`` must
  then have the output's full type.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.graph.ops.dimshuffle import pad_rank
from theanine.graph.ops.elemwise import broadcast_shapes
from theanine.graph.ops.gradient_helpers import broadcast_like, unbroadcast
from theanine.graph.ops.linalg import matmul
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, format_shape, is_float

__all__ = ["Gemm", "Gemv", "gemm", "gemv"]


def _check_scale(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a Python float. Received: {name}={value!r}")
    return float(value)


def _check_operand(what: str, role: str, var: Variable, ndim: int, dtype: str) -> None:
    if var.ndim != ndim or var.dtype != dtype:
        raise TypeError(
            f"{what}: {role} must be a {ndim}-D {dtype} tensor (the dtype of all operands). "
            f"Received: {role} of type {var.type}"
        )


class _ScaledProduct(Op):
    """Shared rules of Gemm and Gemv: ``alpha * product(A, B) + beta * C``."""

    __props__ = ("alpha", "beta", "inplace")
    out_ndim = 2
    b_ndim = 2

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, inplace: bool = False):
        self.alpha = _check_scale("alpha", alpha)
        self.beta = _check_scale("beta", beta)
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        suffix = ", inplace" if self.inplace else ""
        return f"{type(self).__name__}{{alpha={self.alpha:g}, beta={self.beta:g}{suffix}}}"

    def product_shape(self, a_shape: tuple, b_shape: tuple) -> tuple:
        raise NotImplementedError

    def make_node(self, c, a, b) -> Apply:
        what = str(self)
        c, a, b = (as_tensor_variable(v) for v in (c, a, b))
        if not is_float(a.dtype):
            raise TypeError(f"{what}: A must be a float matrix. Received: A of type {a.type}")
        _check_operand(what, "A", a, 2, a.dtype)
        _check_operand(what, "B", b, self.b_ndim, a.dtype)
        if c.ndim > self.out_ndim or c.dtype != a.dtype:
            raise TypeError(
                f"{what}: C must be a {a.dtype} tensor of rank <= {self.out_ndim}. "
                f"Received: C of type {c.type}"
            )
        if a.type.shape[1] is not None and b.type.shape[0] is not None and a.type.shape[1] != b.type.shape[0]:
            raise ValueError(
                f"{what}: shapes {format_shape(a.type.shape)} and {format_shape(b.type.shape)} "
                f"are not aligned: dimension 1 of A ({a.type.shape[1]}) != dimension 0 of B "
                f"({b.type.shape[0]})"
            )
        c = pad_rank(c, self.out_ndim)
        product = self.product_shape(a.type.shape, b.type.shape)
        shape = broadcast_shapes([product, c.type.shape], f"{what} (C against A @ B)")
        if self.inplace and c.type.shape != shape:
            raise ValueError(
                f"{what}: an inplace product writes into C, which must have the output's shape "
                f"{format_shape(shape)}. Received: C of shape {format_shape(c.type.shape)}"
            )
        return Apply(self, [c, a, b], [TensorType(a.dtype, shape)])

    def perform(self, node, inputs):
        c, a, b = inputs
        product = np.matmul(a, b)
        _check_runtime_c(node, c, product.shape)
        if self.inplace:
            out = c if c.flags.writeable else c.copy()
            if self.beta != 1.0:
                np.multiply(out, self.beta, out=out)
            return [np.add(out, self._scaled(product), out=out)]
        if self.alpha != 1.0:
            np.multiply(product, self.alpha, out=product)
        if self.beta != 0.0:
            np.add(product, c if self.beta == 1.0 else np.multiply(c, self.beta), out=product)
        return [product]

    def _scaled(self, product: np.ndarray) -> np.ndarray:
        return product if self.alpha == 1.0 else np.multiply(product, self.alpha)

    def infer_shape(self, node, input_shapes):
        c, _, _ = node.inputs
        c_shape, a_shape, b_shape = input_shapes
        product = self.product_shape(a_shape, b_shape)
        static = node.outputs[0].type.shape
        return [
            tuple(
                s if s is not None else (p if c.type.shape[i] == 1 else cs)
                for i, (s, p, cs) in enumerate(zip(static, product, c_shape, strict=True))
            )
        ]

    def L_op(self, inputs, outputs, output_grads):
        """``dC = beta * g`` (summed over C's broadcast axes); ``dA``, ``dB`` as for matmul, times alpha."""
        c, a, b = inputs
        (g,) = output_grads
        grad_a, grad_b = matmul(g, b.T) if self.b_ndim == 2 else _outer(g, b), matmul(a.T, g)
        grad_c = unbroadcast(g * self.beta, c)
        return [grad_c, grad_a * self.alpha, grad_b * self.alpha]

    def R_op(self, inputs, eval_points):
        """Linear in C and in each factor: ``alpha * (dA @ B + A @ dB) + beta * dC``."""
        c, a, b = inputs
        dc, da, db = eval_points
        terms = [matmul(da, b) * self.alpha] if da is not None else []
        terms += [matmul(a, db) * self.alpha] if db is not None else []
        terms += [dc * self.beta] if dc is not None else []
        if not terms:
            return [None]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return [broadcast_like(total, self(c, a, b))]


def _check_runtime_c(node: Apply, c: np.ndarray, product_shape: tuple) -> None:
    """C's dims that are not a static 1 must equal the product's at run time (no implicit broadcast)."""
    static = node.inputs[0].type.shape
    for axis, (declared, actual, wanted) in enumerate(zip(static, c.shape, product_shape, strict=True)):
        if declared != 1 and actual != wanted:
            raise ValueError(
                f"{node.op}: C of shape {c.shape} does not match the product's shape "
                f"{product_shape} on dimension {axis}; only dimensions declared with static "
                "size 1 broadcast"
            )


def _outer(g, x):
    """``g[:, None] * x[None, :]``: the gradient of ``A @ x`` with respect to ``A``."""
    return g.dimshuffle(0, "x") * x.dimshuffle("x", 0)


class Gemm(_ScaledProduct):
    """``alpha * A @ B + beta * C`` for float matrices A (m, k), B (k, n); C broadcasts to (m, n)."""

    def product_shape(self, a_shape, b_shape):
        return (a_shape[0], b_shape[1])


class Gemv(_ScaledProduct):
    """``alpha * A @ x + beta * y`` for a float matrix A (m, k) and vector x (k,); y broadcasts to (m,)."""

    out_ndim = 1
    b_ndim = 1

    def product_shape(self, a_shape, b_shape):
        return (a_shape[0],)


def gemm(c, a, b, alpha: float = 1.0, beta: float = 1.0):
    """``alpha * a @ b + beta * c`` as one op (for tests and hand-built graphs)."""
    return Gemm(alpha, beta)(c, a, b)


def gemv(y, a, x, alpha: float = 1.0, beta: float = 1.0):
    """``alpha * a @ x + beta * y`` as one op."""
    return Gemv(alpha, beta)(y, a, x)

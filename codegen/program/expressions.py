"""Expression helpers of the kernel program, shared by every lowering rule.

Rules build scalar expression DAGs (``Call``, ``Arg``, ``Lit`` of
kernel_ir) through these two helpers, so a call and a cast are spelled
one way everywhere: a cast to the dtype an expression already has is no
node at all.
"""

from __future__ import annotations

from theanine.codegen.program.kernel_ir import Call, Expr


def call(op: str, dtype: str, *args: Expr) -> Call:
    """The scalar op ``op`` applied to ``args``, giving ``dtype``."""
    return Call(op, tuple(args), dtype)


def cast(expr: Expr, dtype: str) -> Expr:
    """``expr`` converted to ``dtype`` (itself when it already has that dtype)."""
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)

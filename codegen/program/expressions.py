"""Expression helpers of the kernel program, shared by every lowering rule.

Rules build scalar expression DAGs (``Call``, ``Arg``, ``Lit`` of
kernel_ir) through these two helpers, so a call and a cast are spelled
one way everywhere: a cast to the dtype an expression already has is no
node at all.
"""

from __future__ import annotations

from theanine.codegen.program.kernel_ir import Arg, Call, Expr


def call(op: str, dtype: str, *args: Expr) -> Call:
    """The scalar op ``op`` applied to ``args``, giving ``dtype``."""
    return Call(op, tuple(args), dtype)


def cast(expr: Expr, dtype: str) -> Expr:
    """``expr`` converted to ``dtype`` (itself when it already has that dtype)."""
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)


def substitute(expr: Expr, mapping: dict[int, int | Expr]) -> Expr:
    """``expr`` with each ``Arg(p)`` replaced by ``mapping[p]``: a new input position, or an expression
    (cast to the Arg's dtype); iterative, shared nodes rebuilt once."""
    done: dict[int, Expr] = {}
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if id(e) in done:
            continue
        if isinstance(e, Arg):
            target = mapping[e.position]
            done[id(e)] = Arg(target, e.dtype) if isinstance(target, int) else cast(target, e.dtype)
        elif not isinstance(e, Call):
            done[id(e)] = e
        elif not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if id(a) not in done)
        else:
            done[id(e)] = Call(e.op, tuple(done[id(a)] for a in e.args), e.dtype)
    return done[id(expr)]

"""Expression helpers of the kernel program, shared by every lowering rule.

Rules build scalar expression DAGs (``Call``, ``Arg``, ``Lit`` of
kernel_ir) through these two helpers, so a call and a cast are spelled
one way everywhere: a cast to the dtype an expression already has is no
node at all.
"""

from __future__ import annotations

from theanine.codegen.program.kernel_ir import Arg, Call, Expr, distinct_nodes


def call(op: str, dtype: str, *args: Expr) -> Call:
    """The scalar op ``op`` applied to ``args``, giving ``dtype``."""
    return Call(op, tuple(args), dtype)


def cast(expr: Expr, dtype: str) -> Expr:
    """``expr`` converted to ``dtype`` (itself when it already has that dtype)."""
    return expr if expr.dtype == dtype else Call(f"cast_{dtype}", (expr,), dtype)


def substitute(expr: Expr, mapping: dict[int, int | Expr], done: dict[int, Expr] | None = None) -> Expr:
    """``expr`` with each ``Arg(p)`` replaced by ``mapping[p]``: a new input position, or an expression
    (cast to the Arg's dtype); iterative, shared nodes rebuilt once (pass the same ``done`` dict for
    several roots of one DAG, so that they keep sharing their common parts)."""
    done = {} if done is None else done
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


# A fused kernel's size budget, in calls; math functions that printers expand into a polynomial
# body of tens of instructions weigh more (a chain of 200 tanh took LLVM seconds per kernel).
MAX_KERNEL_CALLS = 96
EXPANDED_CALL_WEIGHT = 12
EXPANDED_CALLS = frozenset({
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "sigmoid", "softplus",
    "erf", "erfc", "erfinv", "erfcinv", "gamma", "gammaln", "psi", "power", "pow",
})


def call_weight(e: Expr) -> int:
    """What a node counts against ``MAX_KERNEL_CALLS``."""
    if not isinstance(e, Call):
        return 0
    return EXPANDED_CALL_WEIGHT if e.op in EXPANDED_CALLS else 1


def post_order(roots) -> list[Expr]:
    """The distinct nodes of the DAG under ``roots``, each after its arguments (iterative)."""
    seen: set[int] = set()
    order: list[Expr] = []
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        e, expanded = stack.pop()
        if id(e) in seen:
            continue
        if expanded or not isinstance(e, Call):
            seen.add(id(e))
            order.append(e)
            continue
        stack.append((e, True))
        stack.extend((a, False) for a in reversed(e.args) if id(a) not in seen)
    return order


def element_args(exprs) -> list[Arg]:
    """The inputs the expressions read at the loop position (``Arg``), one per position, gathers'
    coordinates included, in order of first appearance.

    A printer loads all of them before it stores any output of the element: an output written
    in place over an input (``reuses``, or a GEMM epilogue's product kept in an output's buffer)
    must not be seen by a later output's expression, which means the input's value before the
    element.
    """
    found: dict[int, Arg] = {}
    for e in distinct_nodes(exprs):
        if isinstance(e, Arg):
            found.setdefault(e.position, e)
    return list(found.values())

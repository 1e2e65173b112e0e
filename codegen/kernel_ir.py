"""The backend-neutral kernel program that every native printer shares.

A ``Program`` is a schedule of steps over a table of buffers:

- ``ElementwiseKernel``: a loop nest over the output's index space whose
  body is a DAG of scalar expressions (``Arg``, ``Lit``, ``Call``) per
  element.  Inputs are read through an ``Access``: for every loop axis, the
  buffer axis it walks, or None where the input is broadcast (stride 0).
  Transposes and broadcasts (DimShuffle) are folded into accesses, so they
  cost nothing at run time.
- ``ReduceKernel``: combine an elementwise expression of its inputs along
  some axes with an associative function (``add``, ``mul``, ``max``,
  ``min``, ``and``, ``or``) starting from its identity, so that
  ``sum(x ** 2)`` or the denominator of a softmax reads memory once.
- ``GemmCall``: C = alpha * op(A) @ op(B) + beta * C on 2-D (or batched 3-D)
  float buffers: a library call (BLAS on CPUs).
- ``HostCall``: run an op's NumPy ``perform``: the fallback for ops with no
  native lowering, so every graph compiles.

Shapes are symbolic: each buffer's shape is a tuple of ``ShapeExpr``
(a literal int, or a dimension of another buffer), evaluated at run time
from the input shapes, so one compiled program serves every batch size.
Nothing here is CPU-specific: vector width, threads and unrolling are the
printers' decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

# --- scalar expressions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arg:
    """The element of kernel input ``position``."""

    position: int
    dtype: str


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value."""

    value: float | int | bool
    dtype: str


@dataclass(frozen=True, slots=True)
class Index:
    """The loop index along ``axis`` (int64): one-hot masks, ranges, identity matrices."""

    axis: int
    dtype: str = "int64"


@dataclass(frozen=True, slots=True)
class Size:
    """The run-time value of a dimension (int64), e.g. for ``x.shape[i]``."""

    dim: object
    dtype: str = "int64"


@dataclass(frozen=True, slots=True)
class Call:
    """Scalar op ``op`` (the ScalarOp name, e.g. "add", "exp", "cast_float64") on ``args``."""

    op: str
    args: tuple[Expr, ...]
    dtype: str


Expr = Union[Arg, Lit, Index, Size, Call]

# --- shapes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DimOf:
    """Dimension ``axis`` of buffer ``buffer`` (known once that buffer exists)."""

    buffer: int
    axis: int


ShapeExpr = Union[int, DimOf]

# --- buffers and accesses -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buffer:
    """One array of the program: an input, an output, a temporary or a constant."""

    index: int
    dtype: str
    shape: tuple[ShapeExpr, ...]
    role: str


@dataclass(frozen=True, slots=True)
class Access:
    """How a kernel walks a buffer: loop axis i reads buffer axis ``axes[i]`` (None: broadcast)."""

    buffer: int
    axes: tuple[int | None, ...]


# --- steps ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElementwiseKernel:
    inputs: tuple[Access, ...]
    outputs: tuple[int, ...]
    exprs: tuple[Expr, ...]
    shape: tuple[ShapeExpr, ...]
    checks: tuple[tuple[ShapeExpr, ShapeExpr], ...]
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ReduceKernel:
    inputs: tuple[Access, ...]
    expr: Expr
    output: int
    axes: tuple[int, ...]
    combine: str
    dtype: str
    shape: tuple[ShapeExpr, ...]
    checks: tuple[tuple[ShapeExpr, ShapeExpr], ...]
    node: object = field(compare=False, hash=False)
    producer: object = field(default=None, compare=False, hash=False)

    @property
    def checked_node(self):
        """The node whose shape rules ``checks`` enforce (the fused producer, if any)."""
        return self.producer if self.producer is not None else self.node


@dataclass(frozen=True, slots=True)
class GemmCall:
    a: Access
    b: Access
    output: int
    dtype: str
    m: ShapeExpr
    n: ShapeExpr
    k: ShapeExpr
    k_check: ShapeExpr
    node: object = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class HostCall:
    inputs: tuple[Access, ...]
    outputs: tuple[int, ...]
    node: object = field(compare=False, hash=False)


Step = Union[ElementwiseKernel, ReduceKernel, GemmCall, HostCall]


@dataclass
class Program:
    """Buffers, the schedule, and which buffers are the function's inputs and outputs.

    ``refs`` maps ``id(variable)`` of the graph's variables to the access
    that reads them, so run-time errors can show the values a node saw.
    """

    buffers: list[Buffer]
    steps: list[Step]
    inputs: list[int]
    outputs: list[Access]
    constants: dict[int, object]
    refs: dict[int, Access] = field(default_factory=dict)

    def describe(self) -> str:
        """A readable listing, one step a line (for tests and debugging)."""
        lines = [f"buffers: {len(self.buffers)}"]
        for step in self.steps:
            lines.append(f"{type(step).__name__}: {step.node.op if step.node is not None else ''}")
        return "\n".join(lines)


def segments(program: Program) -> list[tuple[str, list]]:
    """The schedule cut into maximal runs of native steps and single host calls.

    Each native run becomes one entry point of the compiled module, so a
    graph without host calls enters native code exactly once per call.
    """
    out: list[tuple[str, list]] = []
    for step in program.steps:
        if isinstance(step, HostCall):
            out.append(("host", [step]))
        elif out and out[-1][0] == "native":
            out[-1][1].append(step)
        else:
            out.append(("native", [step]))
    return out


def step_inputs(step: Step) -> tuple[Access, ...]:
    """The accesses a step reads."""
    if isinstance(step, GemmCall):
        return (step.a, step.b)
    return step.inputs


def step_outputs(step: Step) -> tuple[int, ...]:
    """The buffers a step writes."""
    if isinstance(step, (ReduceKernel, GemmCall)):
        return (step.output,)
    return step.outputs


def uses_indices(exprs: tuple[Expr, ...]) -> bool:
    """True when some expression reads a loop index (so loops cannot be flattened)."""
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, Index):
            return True
        if isinstance(e, Call):
            stack.extend(e.args)
    return False

"""The CUDA printer: a kernel Program becomes one CUDA C source of ``__global__`` kernels.

The sibling of ``codegen/llvm/printer``, printing the same backend-neutral
program (one lowering, no second path).  Each native step becomes one
kernel ``k<step>(int* status, Buf b<i>, ...)`` taking, by value, the
record (data pointer, dims, element strides) of each buffer it touches;
``kernels`` lists them with the launch each needs (``launch.Launch``), in
program order.  A kernel that fails a run-time check (a shape mismatch, an
index out of bounds) stores ``1 + step index`` in ``*status`` (the first
failure wins) and every later kernel returns at once, so the runner names
the node as the LLVM runner does.

How each step maps to the GPU:

- elementwise: a grid-stride loop over the output elements, unravelled to
  coordinates, or, when every operand is dense, a flat loop (over 16-byte
  packs moved as vector loads and stores where aligned, ``_packed``);
- reductions of the innermost axis: one block per output element, the
  block's threads striding over the reduced elements and combining with
  warp shuffles and shared memory (``th_block_reduce``); a reduction of
  everything in two passes (up to ``launch.PARTIALS`` blocks write
  partials to a scratch buffer, one block combines them); reductions that
  keep the innermost axis: one thread per output element (coalesced);
  float16/float32 sums accumulate in double, as on the CPU; a row softmax
  is what the program makes of it: block reductions per row between
  grid-stride elementwise kernels;
- arg-reductions, scans (cumulative), sorted searches: one thread per
  output row;
- scatter-adds: one thread per element with atomic adds (a CAS loop for
  1- and 2-byte dtypes); scatter-sets keep NumPy's sequential order on a
  single thread; mask compactions (nonzero) count, offset and write per
  block in three kernels (``_nonzero``); argsorts merge-sort on one block,
  each thread placing its elements by binary search (``_argsort``);
- GEMM: the tiled shared-memory kernel ``th_gemm_tiled`` (a runner with
  cuBLAS may call it instead: ``Kernel.gemm`` keeps the step);
- loops (``LoopStep``): the body's steps print as kernels of their own,
  which the runner launches once per iteration, plus one-thread kernels
  that keep the iteration counter on the device (``_loop``);
- branches (``BranchStep``): both bodies' steps print as kernels of their
  own, and the runner launches those of the body the condition picks.

Under ``TH_EMULATION`` (g++ with ``emulation.h``) each kernel also gets an
``extern "C" launch_k<step>`` that runs it on the CPU with a given grid
and block.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

from theanine.codegen.cuda import launch
from theanine.codegen.cuda import scalar as cs
from theanine.codegen.program.expressions import element_args
from theanine.codegen.program.kernel_ir import (
    Access,
    Arg,
    ArgReduceKernel,
    BranchStep,
    DimOf,
    ElementwiseKernel,
    Expr,
    GemmCall,
    HostCall,
    Index,
    Lit,
    Load,
    LoopStep,
    NonzeroKernel,
    Program,
    ReduceKernel,
    ScanKernel,
    ScatterKernel,
    ShapeCall,
    Size,
    SortKernel,
    ValueOf,
    uses_indices,
)

PRELUDE = (pathlib.Path(__file__).parent / "prelude.cuh").read_text()


def defines(rank: int) -> str:
    """The macros the prelude needs: the buffer records' rank and the launch constants."""
    return "\n".join([f"#define TH_MAXDIM {rank}", f"#define TH_BLOCK {launch.BLOCK}",
                      f"#define TH_PARTIALS {launch.PARTIALS}"])


@dataclass(frozen=True)
class Kernel:
    """One printed kernel: its name, the step it runs, its buffer parameters and its launch.

    ``scratch``: it takes the step's scratch buffer (``launch.SCRATCH_BYTES``,
    shared by the step's kernels: the per-block partials of a two-pass
    reduction) as its last parameter.  ``gemm``: the GEMM step it computes
    (a GPU runtime may call cuBLAS for it instead).  ``step`` is the index of
    a step of the program; ``path`` the position of the kernel's step inside
    that step's loop bodies (``(2,)``: the third step of loop ``step``'s
    body), empty outside loops.  ``control``: one of a loop's own one-thread
    kernels, ``"start"`` (counter = 0), ``"next"`` (counter += 1) or ``"ran"``
    (ran = counter), with ``path`` the loop's own position.
    """

    name: str
    step: int
    buffers: tuple[int, ...]
    launch: launch.Launch
    cooperative: bool
    scratch: bool = False
    gemm: GemmCall | None = None
    path: tuple[int, ...] = ()
    control: str | None = None


_BUFFER_USE = re.compile(r"\bb(\d+)\.")


def _buffers_used(lines: list[str]) -> tuple[int, ...]:
    """The buffers a kernel body reads a field of (``b<i>.data``, ``.dims``, ``.strides``): its parameters."""
    return tuple(sorted({int(m) for line in lines for m in _BUFFER_USE.findall(line)}))


class _Body:
    """The lines of one kernel, with fresh names and the shape expressions it has printed."""

    def __init__(self, printer: CudaPrinter, step_index: int, name: str):
        self.printer, self.step_index, self.name = printer, step_index, name
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0

    def line(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def fresh(self, prefix: str = "v") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def let(self, ctype: str, value: str, prefix: str = "v") -> str:
        name = self.fresh(prefix)
        self.line(f"{ctype} {name} = {value};")
        return name

    def open(self, header: str) -> None:
        self.line(header + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")

    def dim(self, expr) -> str:
        """A ShapeExpr as a C int64 expression."""
        if isinstance(expr, DimOf):
            return f"b{expr.buffer}.dims[{expr.axis}]"
        if isinstance(expr, ValueOf):
            dtype = self.printer.program.buffers[expr.buffer].dtype
            pointer = f"(({cs.memory_type(dtype)}*)b{expr.buffer}.data)[{expr.item} * b{expr.buffer}.strides[0]]"
            return f"({cs.convert(cs.load(pointer, dtype), dtype, 'int64')})"
        if isinstance(expr, ShapeCall):
            args = [self.dim(a) for a in expr.args]
            return _shape_call(expr.op, args)
        return f"((th_i64){int(expr)})"

    def fail(self) -> str:
        return f"th_fail(status, {self.step_index + 1})"

    def check_shapes(self, checks) -> None:
        for left, right in checks:
            self.line(f"if ({self.dim(left)} != {self.dim(right)}) {{ {self.fail()}; return; }}")

    def dims(self, shape) -> list[str]:
        return [self.let("const th_i64", self.dim(e), "n") for e in shape]

    def unravel(self, flat: str, dims: list[str]) -> list[str]:
        """C-order coordinates of ``flat`` in ``dims``."""
        if not dims:
            return []
        rest = self.let("th_i64", flat, "t")
        out = []
        for d in reversed(dims[1:]):
            out.append(self.let("const th_i64", f"{rest} % {d}", "i"))
            self.line(f"{rest} /= {d};")
        out.append(self.let("const th_i64", rest, "i"))
        return out[::-1]

    def access(self, access: Access) -> tuple[str, list[str]]:
        """(typed base pointer at the access's corner, element stride per loop axis)."""
        b = access.buffer
        dtype = self.printer.program.buffers[b].dtype
        corner = " + ".join(f"{self.dim(s)} * b{b}.strides[{k}]" for k, s in enumerate(access.starts)) or "0"
        memory = cs.memory_type(dtype)
        pointer = self.let(f"{memory}* const", f"(({memory}*)b{b}.data) + ({corner})", "p")
        strides = []
        for axis, a in enumerate(access.axes):
            if a is None:
                strides.append("0")
            elif access.step(axis) == 1:
                strides.append(f"b{b}.strides[{a}]")
            else:
                strides.append(self.let("const th_i64", f"b{b}.strides[{a}] * {self.dim(access.step(axis))}", "s"))
        return pointer, strides


def _offset(indices: list[str], strides: list[str]) -> str:
    terms = [f"{i} * {s}" for i, s in zip(indices, strides, strict=False) if s != "0"]
    return " + ".join(terms) or "0"


def _shape_call(op: str, args: list[str]) -> str:
    a = args
    return {
        "add": lambda: f"({a[0]} + {a[1]})",
        "sub": lambda: f"({a[0]} - {a[1]})",
        "mul": lambda: f"({a[0]} * {a[1]})",
        "floordiv": lambda: f"th_shape_floordiv({a[0]}, {a[1]})",
        "max": lambda: f"th_max64({a[0]}, {a[1]})",
        "min": lambda: f"th_min64({a[0]}, {a[1]})",
        "lt": lambda: f"((th_i64)({a[0]} < {a[1]}))",
        "where": lambda: f"({a[0]} != 0 ? {a[1]} : {a[2]})",
    }[op]()


class _Expressions:
    """Prints scalar expression DAGs into a body, sharing equal subexpressions (iteratively).

    ``sources[position]``: (base pointer, strides, dtype) of kernel input
    ``position``; ``offsets[position]``: its offset at the current element
    (for ``Arg``); ``indices``: the loop coordinates (for ``Index``).
    """

    def __init__(self, body: _Body, sources, offsets, indices, loaded: dict[int, str] | None = None):
        self.body, self.sources, self.offsets, self.indices = body, sources, offsets, indices
        self.loaded = loaded or {}
        self.cache: dict = {}

    def arg(self, position: int) -> str:
        """Input ``position`` at the current element: from memory, or from ``loaded[position]``
        (the element's slot of a pack already read, still in its memory type)."""
        pointer, _, dtype = self.sources[position]
        where = self.loaded[position] if position in self.loaded else f"{pointer}[{self.offsets[position]}]"
        return self.body.let(cs.compute_type(dtype), cs.load(where, dtype))

    def __call__(self, expr: Expr) -> str:
        body, cache = self.body, self.cache
        stack = [(expr, False)]
        while stack:
            e, ready = stack.pop()
            if e in cache:
                continue
            if isinstance(e, Arg):
                cache[e] = self.arg(e.position)
            elif isinstance(e, Lit):
                cache[e] = cs.literal(e.value, e.dtype)
            elif isinstance(e, Index):
                cache[e] = self.indices[e.axis]
            elif isinstance(e, Size):
                cache[e] = body.dim(e.dim)
            elif not ready:
                stack.append((e, True))
                stack.extend((a, False) for a in (e.coords if isinstance(e, Load) else e.args) if a not in cache)
            elif isinstance(e, Load):
                cache[e] = self.gather(e)
            else:
                value, failed = cs.emit(e.op, [cache[a] for a in e.args], [a.dtype for a in e.args], e.dtype)
                cache[e] = body.let(cs.compute_type(e.dtype), value)
                if failed is not None:
                    body.line(f"if ({failed}) {body.fail()};")
        return cache[expr]

    def gather(self, load: Load) -> str:
        pointer, strides, dtype = self.sources[load.position]
        ok, offset = checked_offset(self.body, [self.cache[c] for c in load.coords], load.sizes, load.checked,
                                    strides)
        value = cs.load(f"{pointer}[{offset}]", dtype)
        zero = cs.literal(0, dtype)
        return self.body.let(cs.compute_type(load.dtype), cs.convert(f"({ok} ? {value} : {zero})", dtype, load.dtype))


def checked_offset(body: _Body, coords, sizes, checked, strides) -> tuple[str, str]:
    """(in-bounds flag, offset) of user coordinates: negatives wrap once, then 0 <= c < size; a
    coordinate out of bounds records the step's failure (the offset is then 0)."""
    ok = body.let("bool", "true", "ok")
    wrapped = []
    for c, size, check in zip(coords, sizes, checked, strict=False):
        c = body.let("th_i64", f"(th_i64)({c})", "c")
        if check:
            n = body.dim(size)
            body.line(f"if ({c} < 0) {c} += {n};")
            body.line(f"{ok} = {ok} && {c} >= 0 && {c} < {n};")
        wrapped.append(c)
    body.line(f"if (!{ok}) {body.fail()};")
    offset = body.let("const th_i64", f"{ok} ? ({_offset(wrapped, strides)}) : 0", "off")
    return ok, offset


class CudaPrinter:
    """Prints one Program as one CUDA C source; ``kernels`` lists its kernels in program order.

    ``source`` is self-contained (``TH_MAXDIM``: the largest rank, then the
    prelude, then ``kernel_source``); ``kernel_source`` alone can be wrapped
    in a namespace, so several programs share one translation unit.
    """

    def __init__(self, program: Program):
        self.program = program
        self.kernels: list[Kernel] = []
        parts: list[str] = []
        for index, step in enumerate(program.steps):
            if not isinstance(step, HostCall):
                parts.append(self._kernel(index, step, f"k{index}", ()))
        self.rank = max([len(b.shape) for b in program.buffers] + [1])
        self.kernel_source = "\n".join(parts)
        self.source = "\n".join([defines(self.rank), PRELUDE, self.kernel_source])

    def _kernel(self, index: int, step, name: str, path: tuple[int, ...]) -> str:
        """The kernels of ``step``, program step ``index`` (or inside its loop at ``path``), named
        ``name`` then ``name_1``, ...; a failed check in any of them reports step ``index``."""
        if isinstance(step, LoopStep):
            return self._loop(index, step, name, path)
        if isinstance(step, BranchStep):  # both bodies' kernels (``<name>b<j>``); the runner launches one body
            return "\n".join(self._kernel(index, inner, f"{name}b{j}", (*path, j)) for j, inner in enumerate(step.body))
        body = _Body(self, index, name)
        emitted = _EMITTERS[type(step)](self, body, step)
        if isinstance(emitted, tuple):
            emitted = [(body, *emitted, False)]
        gemm = step if isinstance(step, GemmCall) else None
        return "\n".join(self._function(name + ("" if k == 0 else f"_{k}"), index, *part, gemm=gemm, path=path)
                         for k, part in enumerate(emitted))

    def _loop(self, index: int, loop: LoopStep, name: str, path: tuple[int, ...]) -> str:
        """A LoopStep: its body's steps print as kernels of their own (``<name>l<j>``, which the
        runner launches once per iteration) and three one-thread kernels keep the counter on the
        device, so no iteration copies it there: ``start`` zeroes it, ``next`` adds one after each
        iteration, ``ran`` stores it into the loop's ``ran`` buffer (the runner calls ``next``
        before leaving at a set ``stop`` flag, so ``ran`` is the number of iterations run)."""
        parts = [self._kernel(index, inner, f"{name}l{j}", (*path, j)) for j, inner in enumerate(loop.body)]
        counter = f"((th_i64*)b{loop.counter}.data)[0]"
        controls = [("start", f"{counter} = 0;"), ("next", f"{counter} += 1;")]
        if loop.ran is not None:
            controls.append(("ran", f"((th_i64*)b{loop.ran}.data)[0] = {counter};"))
        for control, statement in controls:
            body = _Body(self, index, f"{name}_{control}")
            body.line(statement)
            parts.append(self._function(body.name, index, body, launch.Launch("single", ()), False, [], False,
                                        path=path, control=control))
        return "\n".join(parts)

    def _function(self, name: str, index: int, body: _Body, plan: launch.Launch, cooperative: bool,
                  before: list[str], scratch: bool, gemm: GemmCall | None = None, path: tuple[int, ...] = (),
                  control: str | None = None) -> str:
        """One ``__global__`` function (and its emulation launcher) from a printed body."""
        buffers = _buffers_used(body.lines)
        self.kernels.append(Kernel(name, index, buffers, plan, cooperative, scratch, gemm, path, control))
        params = ", ".join(["int* status"] + [f"Buf b{b}" for b in buffers] + (["Buf scratch"] if scratch else []))
        if cooperative:
            guard = ["  __shared__ int th_stop;", "  if (threadIdx.x == 0 && threadIdx.y == 0) th_stop = *status;",
                     "  __syncthreads();", "  if (th_stop) return;"]
        else:
            guard = ["  if (*status) return;"]
        args = ", ".join(["status"] + [f"b[{k}]" for k in range(len(buffers) + scratch)])
        emulated = [
            "#ifdef TH_EMULATION",
            f'extern "C" void launch_{name}(const unsigned* config, int* status, const Buf* b) {{',
            f"  th_emu::launch(config, {'true' if cooperative else 'false'}, [&]() {{ {name}({args}); }});",
            "}",
            "#endif",
        ]
        return "\n".join([*before, f"__global__ void {name}({params}) {{", *guard, *body.lines, "}", *emulated, ""])

    # elementwise ---------------------------------------------------------------------
    def _dense(self, access: Access, shape: tuple, checks=()) -> bool:
        """Whether ``access`` reads a whole buffer of ``shape`` in C order (every device array is
        C-contiguous: the runner copies arguments in densely and allocates the rest).  A dim
        that ``checks`` (pairs the kernel verifies equal before its loop) equates counts as equal."""
        buffer = self.program.buffers[access.buffer]
        if not (access.plain and access.axes == tuple(range(len(shape))) and len(buffer.shape) == len(shape)):
            return False
        equal = set(checks) | {(b, a) for a, b in checks}
        return all(a == b or (a, b) in equal for a, b in zip(buffer.shape, shape, strict=True))

    def _elementwise(self, body: _Body, kernel: ElementwiseKernel):
        body.check_shapes(kernel.checks)
        dims = body.dims(kernel.shape)
        total = body.let("const th_i64", " * ".join(dims) or "1", "total")
        inputs = [body.access(a) for a in kernel.inputs]
        dtypes = [self.program.buffers[a.buffer].dtype for a in kernel.inputs]
        rank = len(dims)
        outputs = []
        for j, o in enumerate(kernel.outputs):
            pointer, strides = body.access(kernel.output_view(j) or Access(o, tuple(range(rank))))
            outputs.append((pointer, strides, self.program.buffers[o].dtype))
        flat = not (uses_indices(kernel.exprs) or kernel.out_views) and all(
            self._dense(a, kernel.shape, kernel.checks) for a in kernel.inputs)
        itemsizes = {cs.itemsize(d) for d in dtypes + [d for _, _, d in outputs]}
        if flat and itemsizes in ({4}, {8}) and not _static_total_below(kernel.shape, PACKED_MIN_ELEMENTS):
            return self._packed(body, kernel, total, inputs, dtypes, outputs, 16 // itemsizes.pop())
        body.open(f"for (th_i64 e = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; e < {total}; "
                  f"e += (th_i64)gridDim.x * blockDim.x)")
        indices = [] if flat else body.unravel("e", dims)
        offsets = ["e" if flat else _offset(indices, s) for _, s in inputs]
        exprs = _Expressions(body, [(p, s, d) for (p, s), d in zip(inputs, dtypes, strict=True)], offsets, indices)
        for arg in element_args(kernel.exprs):  # all of an element's reads precede its first store
            exprs(arg)
        for expr, (pointer, strides, dtype) in zip(kernel.exprs, outputs, strict=False):
            value = cs.convert(exprs(expr), expr.dtype, dtype)
            where = _offset(indices, strides) if kernel.out_views else "e"
            body.line(f"{pointer}[{where}] = {cs.stored(value, dtype)};")
        body.close()
        return launch.Launch("threads", tuple(kernel.shape)), False, []

    def _packed(self, body: _Body, kernel: ElementwiseKernel, total: str, inputs, dtypes, outputs, n: int):
        """The flat elementwise loop over packs of ``n`` elements (16 bytes of each operand, all
        of 4 or 8 bytes, the sizes worth the longer code): a whole pack of 16-byte-aligned
        operands moves as one vector load or store, anything else element by element (the
        missing lanes of the last pack repeat its first element, so they compute nothing new and
        store nothing).  The expressions are printed once, inside the loop over a pack's lanes,
        which nvcc unrolls."""
        sources = [(p, s, d) for (p, s), d in zip(inputs, dtypes, strict=True)]
        pointers = [p for p, _ in inputs] + [p for p, _, _ in outputs]
        aligned = body.let("const bool", " && ".join(f"((th_u64){p} & 15) == 0" for p in pointers), "aligned")
        packs = body.let("const th_i64", f"({total} + {n - 1}) / {n}", "packs")
        body.open(f"for (th_i64 q = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; q < {packs}; "
                  f"q += (th_i64)gridDim.x * blockDim.x)")
        base = body.let("const th_i64", f"q * {n}", "base")
        whole = body.let("const bool", f"{aligned} && {base} + {n} <= {total}", "whole")
        loaded = {}
        for position, (pointer, _, dtype) in enumerate(sources):
            pack = f"th_pack<{cs.memory_type(dtype)}, {n}>"
            name = body.fresh("a")
            body.line(f"{pack} {name};")
            body.line(f"if ({whole}) {name} = *(const {pack}*)({pointer} + {base});")
            body.line(f"else for (int l = 0; l < {n}; ++l) "
                      f"{name}.v[l] = {pointer}[{base} + ({base} + l < {total} ? l : 0)];")
            loaded[position] = f"{name}.v[l]"
        results = []
        for _, _, dtype in outputs:
            results.append(body.fresh("r"))
            body.line(f"th_pack<{cs.memory_type(dtype)}, {n}> {results[-1]};")
        body.line("#pragma unroll")
        body.open(f"for (int l = 0; l < {n}; ++l)")
        exprs = _Expressions(body, sources, [], [], loaded)
        for expr, (_, _, dtype), result in zip(kernel.exprs, outputs, results, strict=False):
            body.line(f"{result}.v[l] = {cs.stored(cs.convert(exprs(expr), expr.dtype, dtype), dtype)};")
        body.close()
        for (pointer, _, dtype), result in zip(outputs, results, strict=False):
            pack = f"th_pack<{cs.memory_type(dtype)}, {n}>"
            body.line(f"if ({whole}) *({pack}*)({pointer} + {base}) = {result};")
            body.line(f"else for (int l = 0; l < {n} && {base} + l < {total}; ++l) "
                      f"{pointer}[{base} + l] = {result}.v[l];")
        body.close()
        return launch.Launch("packs", (*kernel.shape, n)), False, []

    # reductions ----------------------------------------------------------------------
    def _reduce(self, body: _Body, kernel: ReduceKernel):
        acc_dtype = kernel.dtype
        if kernel.combine in ("add", "mul") and kernel.dtype in ("float16", "float32"):
            acc_dtype = "float64"
        acc_type = cs.compute_type(acc_dtype)
        body.check_shapes(kernel.checks)
        dims = body.dims(kernel.shape)
        kept = [a for a in range(len(dims)) if a not in kernel.axes]
        kept_dims, reduced_dims = [dims[a] for a in kept], [dims[a] for a in kernel.axes]
        outs = body.let("const th_i64", " * ".join(kept_dims) or "1", "outs")
        count = body.let("const th_i64", " * ".join(reduced_dims) or "1", "count")
        inputs = [body.access(a) for a in kernel.inputs]
        dtypes = [self.program.buffers[a.buffer].dtype for a in kernel.inputs]
        target = f"(({cs.memory_type(kernel.dtype)}*)b{kernel.output}.data)"
        identity = cs.reduce_identity(kernel.combine, acc_dtype)
        rows = bool(dims) and (len(dims) - 1) in kernel.axes

        def element(outer_idx, inner_idx):
            indices = [None] * len(dims)
            for a, i in zip(kept, outer_idx, strict=True):
                indices[a] = i
            for a, i in zip(kernel.axes, inner_idx, strict=True):
                indices[a] = i
            sources = [(p, s, d) for (p, s), d in zip(inputs, dtypes, strict=True)]
            exprs = _Expressions(body, sources, [_offset(indices, s) for _, s in inputs], indices)
            return cs.convert(exprs(kernel.expr), kernel.expr.dtype, acc_dtype)

        def combine(acc, value):
            body.line(f"{acc} = {cs.reduce_combine(kernel.combine, acc, value, acc_dtype)};")

        result = f"{cs.stored(cs.convert('acc', acc_dtype, kernel.dtype), kernel.dtype)}"
        functor = f"combine_{body.name}"
        before = [f"struct {functor} {{",
                  f"  TH_DEVICE {acc_type} operator()({acc_type} x, {acc_type} y) const {{ return "
                  f"{cs.reduce_combine(kernel.combine, 'x', 'y', acc_dtype)}; }}", "};"]
        if rows and not kept:
            return self._two_pass(body, kernel, functor, acc_dtype, count, result, target, before,
                                  lambda: element([], body.unravel("r", reduced_dims)))
        if rows:
            body.open(f"for (th_i64 o = blockIdx.x; o < {outs}; o += gridDim.x)")
            outer_idx = body.unravel("o", kept_dims)
            body.line(f"{acc_type} acc = {identity};")
            body.open(f"for (th_i64 r = threadIdx.x; r < {count}; r += blockDim.x)")
            combine("acc", element(outer_idx, body.unravel("r", reduced_dims)))
            body.close()
            body.line(f"acc = th_block_reduce<{acc_type}>(acc, {functor}());")
            body.line(f"if (threadIdx.x == 0) {target}[o] = {result};")
            body.close()
            return launch.Launch("blocks", tuple(kernel.shape[a] for a in kept)), True, before
        body.open(f"for (th_i64 o = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; o < {outs}; "
                  f"o += (th_i64)gridDim.x * blockDim.x)")
        outer_idx = body.unravel("o", kept_dims)
        body.line(f"{acc_type} acc = {identity};")
        body.open(f"for (th_i64 r = 0; r < {count}; ++r)")
        combine("acc", element(outer_idx, body.unravel("r", reduced_dims)))
        body.close()
        body.line(f"{target}[o] = {result};")
        body.close()
        return launch.Launch("threads", tuple(kernel.shape[a] for a in kept)), False, []

    def _two_pass(self, body: _Body, kernel: ReduceKernel, functor: str, acc_dtype: str, count: str, result: str,
                  target: str, before: list[str], element):
        """A reduction of everything in two kernels: each block of the first combines a grid-strided
        share into one partial (``scratch[blockIdx.x]``), then one block combines the partials.  Both
        compute the number of partials as ``launch.configure`` does for ``partials``."""
        acc_type, identity = cs.compute_type(acc_dtype), cs.reduce_identity(kernel.combine, acc_dtype)
        partials = f"(({acc_type}*)scratch.data)"
        body.line(f"{acc_type} acc = {identity};")
        body.open(f"for (th_i64 r = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; r < {count}; "
                  f"r += (th_i64)gridDim.x * blockDim.x)")
        body.line(f"acc = {cs.reduce_combine(kernel.combine, 'acc', element(), acc_dtype)};")
        body.close()
        body.line(f"acc = th_block_reduce<{acc_type}>(acc, {functor}());")
        body.line(f"if (threadIdx.x == 0) {partials}[blockIdx.x] = acc;")
        final = _Body(self, body.step_index, body.name)
        total = final.let("const th_i64", " * ".join(final.dims(kernel.shape)) or "1", "count")
        final.line(f"{acc_type} acc = {identity};")
        parts = f"th_max64(1, th_min64(({total} + TH_BLOCK - 1) / TH_BLOCK, TH_PARTIALS))"
        final.open(f"for (th_i64 j = threadIdx.x; j < {parts}; j += blockDim.x)")
        final.line(f"acc = {cs.reduce_combine(kernel.combine, 'acc', f'{partials}[j]', acc_dtype)};")
        final.close()
        final.line(f"acc = th_block_reduce<{acc_type}>(acc, {functor}());")
        final.line(f"if (threadIdx.x == 0) {target}[0] = {result};")
        sizes = tuple(kernel.shape)
        return [(body, launch.Launch("partials", sizes), True, before, True),
                (final, launch.Launch("block", ()), True, [], True)]

    # arg-reductions, scans ---------------------------------------------------------
    def _arg_reduce(self, body: _Body, kernel: ArgReduceKernel):
        dtype = self.program.buffers[kernel.input.buffer].dtype
        ctype = cs.compute_type(dtype)
        dims = body.dims(kernel.shape)
        kept = [a for a in range(len(dims)) if a not in kernel.axes]
        outs = body.let("const th_i64", " * ".join(dims[a] for a in kept) or "1", "outs")
        count = body.let("const th_i64", " * ".join(dims[a] for a in kernel.axes) or "1", "count")
        body.line(f"if ({count} == 0 && {outs} > 0) {{ {body.fail()}; return; }}")
        pointer, strides = body.access(kernel.input)
        body.open(f"for (th_i64 o = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; o < {outs}; "
                  f"o += (th_i64)gridDim.x * blockDim.x)")
        outer = body.unravel("o", [dims[a] for a in kept])
        body.line(f"{ctype} best = {cs.literal(0, dtype)};")
        body.line("th_i64 position = 0;")
        body.open(f"for (th_i64 j = 0; j < {count}; ++j)")
        inner = body.unravel("j", [dims[a] for a in kernel.axes])
        indices = _interleave(kept, outer, kernel.axes, inner)
        value = body.let(ctype, cs.load(f"{pointer}[{_offset(indices, strides)}]", dtype))
        op = ">" if kernel.kind == "argmax" else "<"
        if cs.is_float(dtype):
            better = f"(best == best && ({value} {op} best || {value} != {value}))"
        else:
            better = f"({value} {op} best)"
        body.line(f"if (j == 0 || {better}) {{ best = {value}; position = j; }}")
        body.close()
        body.line(f"((th_i64*)b{kernel.output}.data)[o] = position;")
        body.close()
        return launch.Launch("threads", tuple(kernel.shape[a] for a in kept)), False, []

    def _scan(self, body: _Body, kernel: ScanKernel):
        in_dtype = self.program.buffers[kernel.input.buffer].dtype
        dims = body.dims(kernel.shape)
        others = [a for a in range(len(dims)) if a != kernel.axis]
        outs = body.let("const th_i64", " * ".join(dims[a] for a in others) or "1", "outs")
        pointer, strides = body.access(kernel.input)
        out_strides = _contiguous(body, dims)
        length = dims[kernel.axis]
        ctype = cs.compute_type(kernel.dtype)
        body.open(f"for (th_i64 o = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; o < {outs}; "
                  f"o += (th_i64)gridDim.x * blockDim.x)")
        outer = body.unravel("o", [dims[a] for a in others])
        body.line(f"{ctype} acc = {cs.reduce_identity(kernel.combine, kernel.dtype)};")
        body.open(f"for (th_i64 t = 0; t < {length}; ++t)")
        position = body.let("const th_i64", f"{length} - 1 - t" if kernel.reverse else "t", "q")
        indices = _interleave(others, outer, [kernel.axis], [position])
        value = cs.convert(cs.load(f"{pointer}[{_offset(indices, strides)}]", in_dtype), in_dtype, kernel.dtype)
        if kernel.dtype == "bool":
            combined = f"(acc {'||' if kernel.combine == 'add' else '&&'} {value})"
        else:
            combined = cs.reduce_combine(kernel.combine, "acc", value, kernel.dtype)
            if kernel.dtype == "float16":
                combined = f"th_round_half({combined})"
        body.line(f"acc = {combined};")
        target = f"(({cs.memory_type(kernel.dtype)}*)b{kernel.output}.data)"
        body.line(f"{target}[{_offset(indices, out_strides)}] = {cs.stored('acc', kernel.dtype)};")
        body.close()
        body.close()
        return launch.Launch("threads", tuple(kernel.shape[a] for a in others)), False, []

    # scatters, compactions, sorts ------------------------------------------------------
    def _scatter(self, body: _Body, kernel: ScatterKernel):
        body.check_shapes(kernel.checks)
        dims = body.dims(kernel.shape)
        total = body.let("const th_i64", " * ".join(dims) or "1", "total")
        inputs = [body.access(a) for a in kernel.inputs]
        dtypes = [self.program.buffers[a.buffer].dtype for a in kernel.inputs]
        target_dtype = self.program.buffers[kernel.target].dtype
        target = f"(({cs.memory_type(target_dtype)}*)b{kernel.target}.data)"
        target_strides = [f"b{kernel.target}.strides[{k}]" for k in range(len(kernel.coords))]
        atomic = kernel.mode == "add"
        if atomic:
            body.open(f"for (th_i64 e = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; e < {total}; "
                      f"e += (th_i64)gridDim.x * blockDim.x)")
        else:
            body.open(f"for (th_i64 e = 0; e < {total}; ++e)")
        indices = body.unravel("e", dims)
        sources = [(p, s, d) for (p, s), d in zip(inputs, dtypes, strict=True)]
        exprs = _Expressions(body, sources, [_offset(indices, s) for _, s in inputs], indices)
        coords = [exprs(c) for c in kernel.coords]
        ok, offset = checked_offset(body, coords, kernel.sizes, kernel.checked, target_strides)
        body.open(f"if ({ok})")
        value = body.let(cs.compute_type(target_dtype), cs.convert(exprs(kernel.value), kernel.value.dtype,
                                                                   target_dtype))
        slot = f"{target}[{offset}]"
        if atomic:
            body.line(_atomic_add(f"&{slot}", value, target_dtype))
        else:
            body.line(f"{slot} = {cs.stored(value, target_dtype)};")
        body.close()
        body.close()
        return launch.Launch("threads" if atomic else "single", tuple(kernel.shape)), False, []

    def _nonzero(self, body: _Body, kernel: NonzeroKernel):
        """A stream compaction in three kernels sharing the step's scratch buffer.  The elements
        are cut into one contiguous chunk per block (the grid of a ``partials`` launch): each
        block counts its chunk's nonzero elements into ``scratch[block]``; one thread turns the
        counts into each chunk's first row (an exclusive prefix sum); each block walks its chunk
        again in tiles of ``blockDim.x`` elements, numbering a tile's nonzeros by a block-wide
        scan, so rows keep C order."""
        dtype = self.program.buffers[kernel.input.buffer].dtype
        out = kernel.output
        starts = "((th_i64*)scratch.data)"

        def chunk(part: _Body):
            dims = part.dims(kernel.shape)
            total = part.let("const th_i64", " * ".join(dims) or "1", "total")
            size = part.let("const th_i64", f"({total} + gridDim.x - 1) / gridDim.x", "chunk")
            low = part.let("const th_i64", f"th_min64((th_i64)blockIdx.x * {size}, {total})", "low")
            high = part.let("const th_i64", f"th_min64({low} + {size}, {total})", "high")
            pointer, strides = part.access(kernel.input)
            return dims, low, high, lambda e: cs.convert(
                cs.load(f"{pointer}[{_offset(part.unravel(e, dims), strides)}]", dtype), dtype, "bool")

        functor = f"count_{body.name}"
        before = [f"struct {functor} {{",
                  "  TH_DEVICE th_i64 operator()(th_i64 x, th_i64 y) const { return x + y; }", "};"]
        _, low, high, nonzero = chunk(body)
        body.line("th_i64 count = 0;")
        body.open(f"for (th_i64 e = {low} + threadIdx.x; e < {high}; e += blockDim.x)")
        body.line(f"count += {nonzero('e')} ? 1 : 0;")
        body.close()
        body.line(f"count = th_block_reduce<th_i64>(count, {functor}());")
        body.line(f"if (threadIdx.x == 0) {starts}[blockIdx.x] = count;")

        offsets = _Body(self, body.step_index, body.name)
        total = offsets.let("const th_i64", " * ".join(offsets.dims(kernel.shape)) or "1", "total")
        parts = offsets.let("const th_i64", f"th_max64(1, th_min64(({total} + TH_BLOCK - 1) / TH_BLOCK, TH_PARTIALS))",
                            "parts")
        offsets.line("th_i64 row = 0;")
        offsets.open(f"for (th_i64 j = 0; j < {parts}; ++j)")
        offsets.line(f"const th_i64 count = {starts}[j];")
        offsets.line(f"{starts}[j] = row;")
        offsets.line("row += count;")
        offsets.close()

        write = _Body(self, body.step_index, body.name)
        dims, low, high, nonzero = chunk(write)
        write.line(f"th_i64 row = {starts}[blockIdx.x];")
        write.open(f"for (th_i64 tile = {low}; tile < {high}; tile += blockDim.x)")
        write.line("const th_i64 e = tile + threadIdx.x;")
        write.line("th_i64 flag = 0;")
        write.open(f"if (e < {high})")
        write.line(f"flag = {nonzero('e')} ? 1 : 0;")
        write.close()
        write.line("th_i64 tile_count;")
        write.line("const th_i64 at = row + th_block_exclusive_scan(flag, &tile_count);")
        write.open(f"if (flag && at < b{out}.dims[0])")
        for axis, i in enumerate(write.unravel("e", dims)):
            write.line(f"((th_i64*)b{out}.data)[at * b{out}.strides[0] + {axis} * b{out}.strides[1]] = {i};")
        write.close()
        write.line("row += tile_count;")
        write.close()
        sizes = tuple(kernel.shape)
        return [(body, launch.Launch("partials", sizes), True, before, True),
                (offsets, launch.Launch("single", ()), False, [], True),
                (write, launch.Launch("partials", sizes), True, [], True)]

    def _sort(self, body: _Body, kernel: SortKernel):
        dtype = self.program.buffers[kernel.keys.buffer].dtype
        keys, key_strides = body.access(kernel.keys)
        n = body.let("const th_i64", body.dim(kernel.length), "n")
        out = f"((th_i64*)b{kernel.output}.data)"

        def key(position: str) -> str:
            return cs.load(f"{keys}[({position}) * {key_strides[0]}]", dtype)

        if kernel.kind == "argsort":
            return self._argsort(body, n, out, key, dtype, kernel.scratch)
        queries, query_strides = body.access(kernel.queries)
        query_dtype = self.program.buffers[kernel.queries.buffer].dtype
        count = body.let("const th_i64", body.dim(kernel.count), "count")
        body.open(f"for (th_i64 q = (th_i64)blockIdx.x * blockDim.x + threadIdx.x; q < {count}; "
                  f"q += (th_i64)gridDim.x * blockDim.x)")
        query = body.let(cs.compute_type(dtype), cs.convert(cs.load(f"{queries}[q * {query_strides[0]}]",
                                                                    query_dtype), query_dtype, dtype))
        body.line(f"th_i64 low = 0, high = {n};")
        body.open("while (low < high)")
        body.line("th_i64 middle = low + ((high - low) >> 1);")
        k = body.let(cs.compute_type(dtype), key("middle"))
        stays = cs.emit("less", [query, k], [dtype, dtype], "bool")[0]
        if cs.is_float(dtype):
            stays = f"({stays} || ({k} != {k} && {query} == {query}))"
        body.line(f"if ({stays}) high = middle; else low = middle + 1;")
        body.close()
        body.line(f"{out}[q] = low;")
        body.close()
        return launch.Launch("threads", (kernel.count,)), False, []

    def _argsort(self, body: _Body, n: str, out: str, key, dtype: str, scratch: int):
        """A stable bottom-up merge sort on one block: in each pass every thread places its share
        of the elements directly, at its index in its run plus the number of the other run's
        keys before it (found by binary search: strictly smaller keys for a left-run element,
        smaller or equal for a right-run one, which keeps ties in index order)."""
        def less(a: str, b: str) -> str:
            return cs.emit("less", [a, b], [dtype, dtype], "bool")[0]

        ctype = cs.compute_type(dtype)
        body.line(f"th_i64* from = {out};")
        body.line(f"th_i64* to = (th_i64*)b{scratch}.data;")
        body.line(f"for (th_i64 k = threadIdx.x; k < {n}; k += blockDim.x) from[k] = k;")
        body.line("__syncthreads();")
        body.open(f"for (th_i64 width = 1; width < {n}; width *= 2)")
        body.open(f"for (th_i64 k = threadIdx.x; k < {n}; k += blockDim.x)")
        body.line(f"const th_i64 low = k / (2 * width) * (2 * width), middle = th_min64(low + width, {n});")
        body.line(f"const th_i64 high = th_min64(low + 2 * width, {n});")
        body.line(f"const {ctype} x = {key('from[k]')};")
        body.line("const bool left = k < middle;")
        body.line("th_i64 first = left ? middle : low, last = left ? high : middle;")
        body.line("const th_i64 before = left ? k - low : k - middle;")
        body.open("while (first < last)")
        body.line("const th_i64 probe = first + ((last - first) >> 1);")
        body.line(f"const {ctype} y = {key('from[probe]')};")
        body.line(f"if (left ? {less('y', 'x')} : !{less('x', 'y')}) first = probe + 1; else last = probe;")
        body.close()
        body.line("to[low + before + (first - (left ? middle : low))] = from[k];")
        body.close()
        body.line("__syncthreads();")
        body.line("th_i64* swap = from; from = to; to = swap;")
        body.close()
        body.line(f"if (from != {out}) for (th_i64 k = threadIdx.x; k < {n}; k += blockDim.x) {out}[k] = from[k];")
        return launch.Launch("block", ()), True, []

    # GEMM ------------------------------------------------------------------------------
    def _gemm(self, body: _Body, call: GemmCall):
        t = cs.compute_type(call.dtype)
        body.line(f"if ({body.dim(call.k)} != {body.dim(call.k_check)}) {{ {body.fail()}; return; }}")
        m, n, k = (body.let("const th_i64", body.dim(e), "n") for e in (call.m, call.n, call.k))
        a, a_strides = body.access(call.a)
        b, b_strides = body.access(call.b)
        out_buffer = self.program.buffers[call.output]
        ndim = len(out_buffer.shape)
        batch_shape = out_buffer.shape[:len(call.a.axes) - 2]
        c = f"(({t}*)b{call.output}.data)"
        if call.out_view is not None:
            c, c_strides = body.access(call.out_view)
        elif batch_shape:
            c_strides = [f"b{call.output}.strides[{ndim - 2}]", f"b{call.output}.strides[{ndim - 1}]"]
        elif out_buffer.role != "input":
            c_strides = [f"th_max64({n}, 1)", "1"]
        elif ndim >= 2:
            c_strides = [f"b{call.output}.strides[{ndim - 2}]", f"b{call.output}.strides[{ndim - 1}]"]
        else:
            single = f"b{call.output}.strides[0]" if ndim == 1 else "0"
            c_strides = [single, single]
        batch_dims = [body.let("const th_i64", body.dim(e), "n") for e in batch_shape]
        batches = body.let("const th_i64", " * ".join(batch_dims) or "1", "batches")
        body.open(f"for (th_i64 z = blockIdx.z; z < {batches}; z += gridDim.z)")
        body.open(f"for (th_i64 y = blockIdx.y; y * TH_TILE < {m}; y += gridDim.y)")
        nb = len(batch_shape)
        batch_idx = body.unravel("z", batch_dims)
        out_batch_strides = [f"b{call.output}.strides[{axis}]" for axis in range(nb)]
        body.line(f"th_gemm_tiled<{t}>({a} + {_offset(batch_idx, a_strides[:nb])}, {a_strides[-2]}, "
                  f"{a_strides[-1]}, {b} + {_offset(batch_idx, b_strides[:nb])}, {b_strides[-2]}, {b_strides[-1]}, "
                  f"{c} + {_offset(batch_idx, out_batch_strides)}, {c_strides[0]}, {c_strides[1]}, "
                  f"{m}, {n}, {k}, ({t}){call.alpha!r}, ({t}){call.beta!r}, y);")
        body.close()
        body.close()
        return launch.Launch("gemm", (call.m, call.n, *batch_shape)), True, []


PACKED_MIN_ELEMENTS = 64
"""Elementwise kernels of fewer elements (known at compile time) keep the one-element loop."""


def _static_total_below(shape, limit: int) -> bool:
    """Whether every dim of ``shape`` is a compile-time int and their product is under ``limit``."""
    total = 1
    for d in shape:
        if not isinstance(d, int):
            return False
        total *= d
    return total < limit


def _interleave(kept, outer, axes, inner) -> list[str]:
    indices = [None] * (len(kept) + len(axes))
    for a, i in zip(kept, outer, strict=True):
        indices[a] = i
    for a, i in zip(axes, inner, strict=True):
        indices[a] = i
    return indices


def _contiguous(body: _Body, dims: list[str]) -> list[str]:
    strides, running = [], "1"
    for d in reversed(dims):
        strides.append(running)
        running = body.let("const th_i64", f"{running} * {d}", "s")
    return strides[::-1]


def _atomic_add(pointer: str, value: str, dtype: str) -> str:
    """``*pointer += value`` atomically, with the target dtype's wrapping/rounding."""
    if dtype in ("float32", "float64", "int32", "uint32", "int64", "uint64"):
        return f"th_atomic_add({pointer}, {value});"
    size = 2 if dtype in ("int16", "uint16", "float16") else 1
    kind = 1 if dtype == "bool" else 2 if dtype == "float16" else 0
    bits = f"(th_u32){cs.stored(value, dtype)}" if dtype != "bool" else f"(th_u32)({value} ? 1 : 0)"
    if kind == 0:
        bits = f"(th_u32)({cs.memory_type(dtype).replace('th_i', 'th_u')}){value}"
    return f"th_atomic_add_small((void*)({pointer}), {size}, {kind}, {bits});"


_EMITTERS = {
    ElementwiseKernel: CudaPrinter._elementwise, ReduceKernel: CudaPrinter._reduce,
    ArgReduceKernel: CudaPrinter._arg_reduce, ScanKernel: CudaPrinter._scan, ScatterKernel: CudaPrinter._scatter,
    NonzeroKernel: CudaPrinter._nonzero, SortKernel: CudaPrinter._sort, GemmCall: CudaPrinter._gemm,
}
# The step kinds this printer emits: lowering makes any other kind a host call.
STEP_KINDS = frozenset(_EMITTERS) | {LoopStep, BranchStep}

"""Winograd's F(2x2, 3x3): 3x3 convolutions with unit strides in 2.25 times fewer multiply-adds.

Each 2x2 tile of the output is ``A^T [(G g G^T) * (B^T d B)] A`` of the
4x4 input tile ``d`` under it and the 3x3 kernel ``g`` (Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", 2015).  Over channels
the elementwise product becomes 16 matrix products, one per position of
the 4x4 transformed tile, so the lowering is four steps, each transform
writing the 16 layers of one stacked buffer through views:

1. kernel transform: ``U[k] = (G g G^T)[k]``, ``(16, C, F)``;
2. input transform: ``V[k] = (B^T d B)[k]`` of every tile,
   ``(16, N, tiles_h, tiles_w, C)``, each layer read as ``(N * tiles, C)``;
3. one batched GEMM ``M[k] = V[k] @ U[k]`` over the 16 layers: 16 * C * F
   multiply-adds per tile where im2col spends 4 * 9 * C * F;
4. output transform: one kernel over the tiles writes each tile's four
   outputs through four strided views that cover the output exactly, so
   the bias add and activation after the convolution, and a 2x2 max pool,
   join its loop (``program/kernel_fusion``).

The kernel gradient is F(3x3, 2x2) over the output gradient's 2x2 tiles,
summed by the batched GEMM (``lower_kernel_gradient``).  The transforms'
coefficients are 0, 1, -1 and 0.5: the rounding error is a few units in
the last place of the products' magnitude.  Used for Conv, its kernel
gradient, and ConvTranspose with unit strides (a correlation with the
kernel flipped and its channel axes swapped) when both channel counts are
at least ``MIN_CHANNELS`` and the output's spatial sizes are even.
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.codegen.program import shape_exprs as S
from theanine.codegen.program.expressions import call, cast
from theanine.codegen.program.kernel_ir import Access, Arg, ElementwiseKernel, Expr, GemmCall, Index, Lit, Load
from theanine.codegen.program.lowering import Lowerer
from theanine.codegen.program.rules.windows import read_or, window_coords
from theanine.graph.basic import Apply

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))

MIN_CHANNELS = 8
"""The fewest input channels and filters a convolution takes this form with: the 16 GEMMs have an
inner dimension of C.  One thread's CPU time for a forward "same" convolution on the development VM
(im2col -> Winograd): 8 channels to 8 at (64, 28, 28) 5.2-8.4 -> 4.6-5.3 ms, 16 to 16 8.8-9.2 -> 5.0-6.4,
32 to 64 at (64, 14, 14) 7.6 -> 3.6-6.0, 64 to 64 at (8, 56, 56) 28-31 -> 12.3; a first layer's one or
three channels stay with im2col."""


def applies(op, taps, lows, channels, filters, out_sizes, dtype: str) -> bool:
    """Whether a (flipped-kernel) correlation with these kernel sizes, static pads ``lows`` and sizes
    takes this form: 3x3, unit strides, no dilation, one group."""
    return (op.rank == 2 and op.groups == 1 and tuple(op.strides) == (1, 1) and tuple(op.dilation) == (1, 1)
            and tuple(taps) == (3, 3) and all(isinstance(lo, int) for lo in lows)
            and dtype in ("float32", "float64")
            and all(isinstance(n, int) and n >= MIN_CHANNELS for n in (channels, filters))
            and all(isinstance(n, int) and n > 0 and n % 2 == 0 for n in out_sizes))


def lower(lowerer: Lowerer, node: Apply, x, kernel, lows, out_sizes, tap: Callable[[int, int], tuple],
          checks=()) -> bool:
    """Lower ``node`` (its one output: ``(N, *out_sizes, F)``) as the correlation of channels-last ``x``
    padded by ``lows`` with the 3x3 kernel whose value for input channel ``c`` and filter ``f`` at tap
    ``(i, j)`` is ``kernel`` at coordinates ``tap(i, j)`` (expressions of ``c = Index(0)``,
    ``f = Index(1)``)."""
    (out,) = node.outputs
    dtype = out.dtype
    x_shape, k_shape = lowerer.shape(x), lowerer.shape(kernel)
    batch, channels = x_shape[0], x.type.shape[-1]
    filters = out.type.shape[-1]
    tiles = (batch, out_sizes[0] // 2, out_sizes[1] // 2)

    def taps(i, j):
        return Load(0, tap(i, j), tuple(k_shape), (False,) * 4, dtype)

    u = _stacked(lowerer, dtype, (channels, filters))
    lowerer.steps.append(ElementwiseKernel((lowerer.plain_ref(kernel),), (u,) * 16,
                                           _flat(_sandwich(G, [[taps(i, j) for j in range(3)] for i in range(3)],
                                                           dtype)),
                                           (channels, filters), tuple(checks), node, out_views=_layers(u, 2)))
    v = _input_transform(lowerer, node, x, lows, tiles)
    m = _stacked(lowerer, dtype, (*tiles, filters))
    lowerer.steps.append(GemmCall(Access(v, (0, 3, 4)), Access(u, (0, 1, 2)), m, dtype, S.product(list(tiles)),
                                  filters, channels, channels, node))

    products = [[Arg(4 * a + b, dtype) for b in range(4)] for a in range(4)]
    target = lowerer.bind_new(out, (batch, *out_sizes, filters))
    views = tuple(Access(target, (0, 1, 2, 3), (0, dy, dx, 0), (1, 2, 2, 1)) for dy in range(2) for dx in range(2))
    lowerer.steps.append(ElementwiseKernel(_layers(m, 4), (target,) * 4, _flat(_sandwich(A_T, products, dtype)),
                                           (*tiles, filters), (), node, out_views=views))
    return True


def lower_kernel_gradient(lowerer: Lowerer, node: Apply, x, g, lows, out: int) -> None:
    """Write into buffer ``out`` (``(C, 3, 3, F)``) the kernel gradient of the 3x3 correlation with unit
    strides of channels-last ``x`` padded by ``lows`` whose output gradient is ``g`` (``(N, *O, F)``,
    ``O`` even): ``dk[c, i, j, f] = sum over n, p, q of x[n, p + i - lo, q + j - lo, c] * g[n, p, q, f]``.
    That is F(3x3, 2x2) over the output's 2x2 tiles, summed: ``G^T [sum_t (A e_t A^T) * (B^T d_t B)] G``
    with ``e_t`` a tile of ``g`` and ``d_t`` the 4x4 input tile under it, whose transform the forward
    convolution made already (``_input_transform``).  The 16 GEMMs sum over tiles: ``V[k]^T @ E[k]``."""
    dtype = lowerer.buffers[out].dtype
    g_shape = lowerer.shape(g)
    windows = g.type.shape[1:-1]
    channels, filters = x.type.shape[-1], g.type.shape[-1]
    tiles = (lowerer.shape(x)[0], windows[0] // 2, windows[1] // 2)
    v = _input_transform(lowerer, node, x, lows, tiles)

    access = lowerer.plain_ref(g)
    source = access.buffer if access.plain and access.axes == (0, 1, 2, 3) else lowerer.copy(g)
    corners = tuple(Access(source, (0, 1, 2, 3), (0, a, b, 0), (1, 2, 2, 1)) for a in range(2) for b in range(2))
    e_tile = [[Arg(2 * a + b, dtype) for b in range(2)] for a in range(2)]
    e = _stacked(lowerer, dtype, (*tiles, filters))
    checks = ((g_shape[0], tiles[0]),) if g_shape[0] != tiles[0] else ()
    lowerer.steps.append(ElementwiseKernel(corners, (e,) * 16,
                                           _flat(_sandwich(tuple(zip(*A_T, strict=True)), e_tile, dtype)),
                                           (*tiles, filters), checks, node, out_views=_layers(e, 4)))
    rows = S.product(list(tiles))
    p = _stacked(lowerer, dtype, (channels, filters))
    lowerer.steps.append(GemmCall(Access(v, (0, 4, 3)), Access(e, (0, 3, 4)), p, dtype, channels, filters, rows,
                                  rows, node))

    sums = [[Arg(4 * a + b, dtype) for b in range(4)] for a in range(4)]
    views = tuple(Access(out, (0, 1, 2, 3), (0, i, j, 0)) for i in range(3) for j in range(3))
    layers = tuple(Access(p, (1, None, None, 2), (k, 0, 0)) for k in range(16))
    lowerer.steps.append(ElementwiseKernel(layers, (out,) * 9,
                                           _flat(_sandwich(tuple(zip(*G, strict=True)), sums, dtype)),
                                           (channels, 1, 1, filters), (), node, out_views=views))


def _stacked(lowerer: Lowerer, dtype: str, shape) -> int:
    """A buffer of 16 layers of ``shape``, one per position of the 4x4 transformed tile: the 16
    products are one batched GEMM (one step, the layers split across threads)."""
    return lowerer.new_buffer(dtype, (16, *shape), "temp", 1 + len(shape))


def _layers(buffer: int, ndim: int) -> tuple[Access, ...]:
    """The 16 layers of a ``_stacked`` buffer as views walking its other ``ndim`` axes."""
    return tuple(Access(buffer, tuple(range(1, ndim + 1)), (k, *(0,) * ndim)) for k in range(16))


def _input_transform(lowerer: Lowerer, node: Apply, x, lows, tiles) -> int:
    """The stacked ``V[k] = (B^T d B)[k]`` of the 4x4 input tiles ``d`` under the output's 2x2 tiles,
    ``(16, N, tiles_h, tiles_w, C)``; once per program (a kernel gradient reads the forward's)."""
    dtype = x.dtype
    x_shape, channels = lowerer.shape(x), x.type.shape[-1]
    zero = cast(Lit(0, "int64"), dtype)

    def read(a, b):
        coords, inside = window_coords([Index(1), Index(2)], [a, b], (2, 2), (1, 1), lows, x.type.shape[1:-1],
                                       Index(3))
        return read_or(0, x_shape, dtype, coords, inside, zero)

    d = [[read(a, b) for b in range(4)] for a in range(4)]
    v = _stacked(lowerer, dtype, (*tiles, channels))
    return lowerer.computed_once(ElementwiseKernel((lowerer.plain_ref(x),), (v,) * 16,
                                                   _flat(_sandwich(B_T, d, dtype)), (*tiles, channels), (), node,
                                                   out_views=_layers(v, 4)))[0]


def _sandwich(left, tile, dtype: str) -> list[list[Expr]]:
    """``left @ tile @ left^T`` for constant ``left`` and a tile of expressions."""
    rows = [[_combine([c[i] for i in range(len(tile))], [tile[i][j] for i in range(len(tile))], dtype)
             for j in range(len(tile[0]))] for c in left]
    return [[_combine(c, row, dtype) for c in left] for row in rows]


def _combine(coefficients, values, dtype: str) -> Expr:
    """``sum(c * v)`` without multiplying by 0 or 1 (a -1 subtracts)."""
    total = None
    for c, value in zip(coefficients, values, strict=True):
        if c == 0:
            continue
        term = value if abs(c) == 1 else call("multiply", dtype, Lit(float(abs(c)), dtype), value)
        if total is None:
            total = term if c > 0 else call("negative", dtype, term)
        else:
            total = call("add" if c > 0 else "subtract", dtype, total, term)
    return total if total is not None else cast(Lit(0, "int64"), dtype)


def _flat(tile) -> tuple[Expr, ...]:
    return tuple(e for row in tile for e in row)

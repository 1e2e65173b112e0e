"""Reading a channels-last input through convolution and pooling windows (shared by their rules).

Along spatial axis ``i`` a window tap reads element
``window * stride + tap * dilation - low``.  ``window_coords`` gives the
coordinates of that read, clamped into the input so no address leaves it,
and the condition that it lies inside (not in the padding);
``read_or`` loads there, or gives ``outside`` in the padding.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.codegen.program.expressions import call
from theanine.codegen.program.kernel_ir import Expr, Index, Lit, Load, Size


def as_int64(value) -> Expr:
    """An int64 expression of an int, a ShapeExpr or an expression."""
    if isinstance(value, int):
        return Lit(value, "int64")
    return value if hasattr(value, "dtype") else Size(value)


def all_of(terms: Sequence[Expr]) -> Expr | None:
    """The conjunction of boolean expressions (None for none)."""
    result = None
    for term in terms:
        result = term if result is None else call("logical_and", "bool", result, term)
    return result


def window_coords(windows: Sequence, taps: Sequence, strides, dilation, lows, sizes: Sequence[int],
                  channel: Expr) -> tuple[tuple[Expr, ...], Expr | None]:
    """(batch, clamped spatial coordinates, channel) of a tap's read, and whether it is inside the input.

    ``windows`` and ``taps`` hold one int64 expression (or int) per spatial
    axis; the batch is the loop's first axis.
    """
    coords: list[Expr] = [Index(0)]
    inside = []
    for window, tap, stride, step, low, size in zip(windows, taps, strides, dilation, lows, sizes, strict=True):
        start = call("multiply", "int64", as_int64(window), Lit(stride, "int64"))
        shift = Lit(tap * step, "int64") if isinstance(tap, int) else call("multiply", "int64", tap, Lit(step, "int64"))
        position = call("subtract", "int64", call("add", "int64", start, shift), as_int64(low))
        inside.append(call("logical_and", "bool", call("greater_equal", "bool", position, Lit(0, "int64")),
                           call("less", "bool", position, Lit(size, "int64"))))
        coords.append(call("minimum", "int64", call("maximum", "int64", position, Lit(0, "int64")),
                           Lit(size - 1, "int64")))
    coords.append(channel)
    return tuple(coords), all_of(inside)


def read_or(position: int, shape: Sequence, dtype: str, coords: tuple, inside: Expr | None, outside: Expr) -> Expr:
    """Kernel input ``position`` at ``coords``, or ``outside`` where ``inside`` fails."""
    value = Load(position, coords, tuple(shape), (False,) * len(coords), dtype)
    return value if inside is None else call("where", dtype, inside, value, outside)

"""The convolution ops: ``Conv`` and its transpose ``ConvTranspose``, channels-last, 1 to 3 spatial axes.

``Conv(strides, dilation, groups)(x, kernel, pads)`` is Keras' convolution
(a cross-correlation): ``x`` is ``(N, *S, Cin)``, ``kernel`` is Keras'
``(*K, Cin // groups, Cout)`` and ``pads`` the padding vector of
conv_geometry (``(lo_0, hi_0, ...)``, a constant unless it depends on
sizes known at run time).  The result is ``(N, *O, Cout)``; each group of
``Cin // groups`` input channels feeds its ``Cout // groups`` outputs.

``ConvTranspose(strides, dilation, groups)(y, kernel, sizes, pads)`` is the
adjoint (transpose) of that ``Conv`` on inputs of spatial ``sizes``: it
takes ``y`` of the conv's output shape ``(N, *O, Cout)``, the same kernel,
and returns ``(N, *sizes, Cin)``.  Keras' and ONNX's transposed
convolutions are this op with the sizes and pads their output-shape rules
give (conv_functions.py).  ``sizes + lo + hi`` must hold the ``O`` windows;
positions that no window reaches are zero.

Both ops are bilinear, so their gradients are convolutions again and every
order of derivative stays in these two ops:

- d/dx of ``Conv`` is ``ConvTranspose`` with the same kernel;
- d/dkernel of ``Conv`` correlates the input with the output gradient:
  a ``Conv`` whose batch and channel axes swap roles (the input's channels
  become its batch, the images its channels, the output gradient its
  kernel) and whose strides and dilation swap;
- ``ConvTranspose``'s gradients are a ``Conv`` (for ``y``) and that same
  kernel correlation (for the kernel).

The NumPy reference is im2col / col2im (conv_numpy.py).  Sizes the graph
knows are checked when it is built; errors name both shapes and the line
that built the node.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.graph.ops import conv_numpy
from theanine.graph.ops.conv_geometry import (
    check_windows,
    describe,
    int_tuple,
    output_length,
    pad_pairs,
    pads_vector,
    spatial_sizes,
    where_built,
    window_span,
)
from theanine.graph.ops.dimshuffle import transpose
from theanine.graph.ops.reshape import reshape
from theanine.graph.ops.shape_values import (
    as_shape_vector,
    axis_size,
    checked_shape_vector,
    shape_entries,
    static_entries,
)
from theanine.graph.tensor import as_tensor_variable
from theanine.graph.type import TensorType, is_float

__all__ = ["Conv", "ConvTranspose", "kernel_gradient"]


class _ConvOp(Op):
    """Shared parameters and checks of ``Conv`` and ``ConvTranspose``."""

    __props__ = ("strides", "dilation", "groups")

    def __init__(self, strides, dilation, groups: int = 1):
        self.rank = len(strides)
        self.strides = int_tuple(strides, self.rank, "strides")
        self.dilation = int_tuple(dilation, self.rank, "dilation")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"expected groups to be a positive int. Received: groups={groups!r}{where_built()}")
        self.groups = int(groups)

    def _checked_operands(self, data, kernel, data_role: str) -> tuple[Variable, Variable]:
        data, kernel = as_tensor_variable(data), as_tensor_variable(kernel)
        if kernel.ndim != self.rank + 2 or data.ndim != self.rank + 2:
            raise ValueError(
                f"{self}: a convolution over {self.rank} spatial axes takes a kernel of rank {self.rank + 2} "
                f"and {data_role} of rank {self.rank + 2}. Received: {data_role} of shape {describe(data)}, "
                f"kernel of shape {describe(kernel)}{where_built()}"
            )
        if not is_float(data.dtype) or data.dtype != kernel.dtype:
            raise TypeError(
                f"{self}: {data_role} and kernel must be float tensors of one dtype. Received: "
                f"{data_role} of type {data.type}, kernel of type {kernel.type}{where_built()}"
            )
        return data, kernel

    def _check_channels(self, x_channels, kernel: Variable, x_desc: str, what: str) -> None:
        """``x_channels == groups * kernel's in-channels`` and ``groups`` divides the out-channels."""
        per_group, out_channels = kernel.type.shape[-2], kernel.type.shape[-1]
        if x_channels is not None and per_group is not None and x_channels != per_group * self.groups:
            raise ValueError(
                f"{self}: the {what} has {x_channels} channels but the kernel expects "
                f"{per_group * self.groups} ({per_group} per group x {self.groups} groups). Received: "
                f"{what} of shape {x_desc}, kernel of shape {describe(kernel)}{where_built()}"
            )
        if out_channels is not None and out_channels % self.groups:
            raise ValueError(
                f"{self}: the kernel's {out_channels} output channels do not split into {self.groups} groups. "
                f"Received: kernel of shape {describe(kernel)}{where_built()}"
            )

    def _static_outputs(self, sizes, pads, kernel: Variable, shapes: str) -> tuple:
        """Static output sizes of the windows (a window larger than its padded input is an error)."""
        kernel_sizes = kernel.type.shape[:self.rank]
        check_windows(str(self), sizes, pads, kernel_sizes, self.dilation, shapes)
        return tuple(
            None if None in (n, lo, hi, k) else output_length(n, lo, hi, k, s, d)
            for n, (lo, hi), k, s, d in zip(sizes, pads, kernel_sizes, self.strides, self.dilation, strict=True)
        )

    def _pads(self, pads) -> Variable:
        pads = checked_shape_vector(pads, f"{self} padding")
        if pads.type.shape[0] != 2 * self.rank:
            raise ValueError(f"{self}: expected a padding vector of length {2 * self.rank}. Received: {pads.type}")
        return pads

    def _runtime_pairs(self, pads: np.ndarray) -> list[tuple[int, int]]:
        return [(int(lo), int(hi)) for lo, hi in np.asarray(pads).reshape(-1, 2)]

    def _check_runtime_windows(self, sizes, pairs, kernel_shape, shapes: str) -> None:
        sizes, kernel_shape = [int(n) for n in sizes], [int(k) for k in kernel_shape]
        check_windows(str(self), sizes, pairs, kernel_shape, self.dilation, shapes)


class Conv(_ConvOp):
    """``conv(x, kernel)`` channels-last with a padding vector input (see the module docstring)."""

    def make_node(self, x, kernel, pads) -> Apply:
        x, kernel = self._checked_operands(x, kernel, "input")
        pads = self._pads(pads)
        shapes = f"input of shape {describe(x)}, kernel of shape {describe(kernel)}"
        self._check_channels(x.type.shape[-1], kernel, describe(x), "input")
        entries = static_entries(pads)
        pairs = list(zip(entries[0::2], entries[1::2], strict=True))
        outputs = self._static_outputs(x.type.shape[1:-1], pairs, kernel, shapes)
        shape = (x.type.shape[0], *outputs, kernel.type.shape[-1])
        return Apply(self, [x, kernel, pads], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        x, kernel, pads = inputs
        pairs = self._runtime_pairs(pads)
        shapes = f"input of shape {x.shape}, kernel of shape {kernel.shape}"
        if x.shape[-1] != kernel.shape[-2] * self.groups:
            raise ValueError(f"{self}: the input's channels do not match the kernel's: {shapes}")
        self._check_runtime_windows(x.shape[1:-1], pairs, kernel.shape[:self.rank], shapes)
        return [conv_numpy.conv(x, kernel, pairs, self.strides, self.dilation, self.groups)]

    def infer_shape(self, node, input_shapes):
        x_shape, k_shape, _ = input_shapes
        pairs = pad_pairs(node.inputs[2])
        outputs = [
            output_length(n, lo, hi, k, s, d)
            for n, (lo, hi), k, s, d in zip(x_shape[1:-1], pairs, k_shape[:self.rank], self.strides, self.dilation,
                                             strict=True)
        ]
        return [(x_shape[0], *outputs, k_shape[-1])]

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, kernel, pads = inputs
        (g,) = output_grads
        sizes = as_shape_vector(spatial_sizes(x), "conv gradient")
        dx = ConvTranspose(self.strides, self.dilation, self.groups)(g, kernel, sizes, pads)
        dk = kernel_gradient(x, g, kernel, pad_pairs(pads), self)
        return [dx, dk, None]

    def R_op(self, inputs, eval_points):
        x, kernel, pads = inputs
        dx, dk = eval_points[:2]
        terms = [self(dx, kernel, pads)] if dx is not None else []
        terms += [self(x, dk, pads)] if dk is not None else []
        return [_total(terms)]


class ConvTranspose(_ConvOp):
    """The adjoint of ``Conv`` on inputs of spatial ``sizes`` (see the module docstring)."""

    def make_node(self, y, kernel, sizes, pads) -> Apply:
        y, kernel = self._checked_operands(y, kernel, "input")
        pads = self._pads(pads)
        sizes = checked_shape_vector(sizes, f"{self} output sizes")
        if sizes.type.shape[0] != self.rank:
            raise ValueError(f"{self}: expected {self.rank} output sizes. Received: {sizes.type}")
        channels = y.type.shape[-1]
        if channels is not None and kernel.type.shape[-1] is not None and channels != kernel.type.shape[-1]:
            raise ValueError(
                f"{self}: the input has {channels} channels but the kernel maps from {kernel.type.shape[-1]} "
                f"(a transposed kernel is (*spatial, out_channels // groups, in_channels)). Received: input "
                f"of shape {describe(y)}, kernel of shape {describe(kernel)}{where_built()}"
            )
        self._check_channels(None, kernel, describe(y), "input")
        static_sizes = static_entries(sizes)
        entries = static_entries(pads)
        self._check_fits(y, kernel, static_sizes, list(zip(entries[0::2], entries[1::2], strict=True)))
        per_group = kernel.type.shape[-2]
        shape = (y.type.shape[0], *static_sizes, None if per_group is None else per_group * self.groups)
        return Apply(self, [y, kernel, sizes, pads], [TensorType(y.dtype, shape)])

    def _check_fits(self, y: Variable, kernel: Variable, sizes, pairs) -> None:
        """The padded result must hold every window of ``y``."""
        for axis, (o, n, (lo, hi), k, s, d) in enumerate(zip(
            y.type.shape[1:-1], sizes, pairs, kernel.type.shape[:self.rank], self.strides, self.dilation,
            strict=True,
        )):
            if None in (o, n, lo, hi, k) or o == 0:
                continue
            if n + lo + hi < (o - 1) * s + window_span(k, d):
                raise ValueError(
                    f"{self}: on spatial axis {axis}, {o} windows (stride {s}, kernel size {k}, dilation {d}) "
                    f"span {(o - 1) * s + window_span(k, d)} positions, more than the output size {n} with "
                    f"padding ({lo}, {hi}). Received: input of shape {describe(y)}, kernel of shape "
                    f"{describe(kernel)}{where_built()}"
                )

    def perform(self, node, inputs):
        y, kernel, sizes, pads = inputs
        pairs = self._runtime_pairs(pads)
        sizes = [int(n) for n in sizes]
        for axis, (o, n, (lo, hi), k, s, d) in enumerate(zip(
            y.shape[1:-1], sizes, pairs, kernel.shape[:self.rank], self.strides, self.dilation, strict=True
        )):
            if o and n + lo + hi < (o - 1) * s + window_span(k, d):
                raise ValueError(
                    f"{self}: on spatial axis {axis} the {o} windows do not fit an output of size {n} with "
                    f"padding ({lo}, {hi}): input of shape {y.shape}, kernel of shape {kernel.shape}"
                )
        if y.shape[-1] != kernel.shape[-1]:
            raise ValueError(
                f"{self}: the input's channels do not match the kernel's: input of shape {y.shape}, "
                f"kernel of shape {kernel.shape}"
            )
        return [conv_numpy.conv_adjoint(y, kernel, sizes, pairs, self.strides, self.dilation, self.groups)]

    def infer_shape(self, node, input_shapes):
        y_shape, k_shape, _, _ = input_shapes
        return [(y_shape[0], *shape_entries(node.inputs[2]), k_shape[-2] * self.groups)]

    def connection_pattern(self, node):
        return [[True], [True], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        """``y``: the ``Conv`` of the output gradient over exactly ``y``'s windows; kernel: their correlation."""
        y, kernel, sizes, pads = inputs
        (h,) = output_grads
        fitted = _fitted_pads(pad_pairs(pads), shape_entries(sizes), spatial_sizes(y), kernel, self)
        dy = Conv(self.strides, self.dilation, self.groups)(h, kernel, pads_vector(fitted))
        return [dy, kernel_gradient(h, y, kernel, fitted, self), None, None]

    def R_op(self, inputs, eval_points):
        y, kernel, sizes, pads = inputs
        dy, dk = eval_points[:2]
        terms = [self(dy, kernel, sizes, pads)] if dy is not None else []
        terms += [self(y, dk, sizes, pads)] if dk is not None else []
        return [_total(terms)]


def _total(terms: list[Variable]) -> Variable | None:
    if not terms:
        return None
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _fitted_pads(pads, sizes, outputs, kernel: Variable, op: _ConvOp) -> list[tuple]:
    """Pads that keep ``lo`` and end the padded input where the last of ``outputs`` windows ends.

    A ``Conv`` with these pads over inputs of ``sizes`` makes exactly
    ``outputs`` windows, the ones the original padding made (a larger
    ``hi`` only added windows that read nothing, or positions none read).
    """
    kernel_sizes = [axis_size(kernel, axis) for axis in range(op.rank)]
    return [
        (lo, (o - 1) * s + window_span(k, d) - n - lo)
        for (lo, _), n, o, k, s, d in zip(pads, sizes, outputs, kernel_sizes, op.strides, op.dilation, strict=True)
    ]


def kernel_gradient(x: Variable, g: Variable, kernel: Variable, pads, op: _ConvOp) -> Variable:
    """d cost / d kernel of ``Conv(x, kernel)`` given ``g``, the gradient of its output, as a ``Conv``.

    ``dk[a, ci, co] = sum over n, o of xp[n, o * s + a * d, ci] * g[n, o, co]``:
    a convolution of ``x`` with batch and channel axes swapped (``(Cin/G,
    *S, G * N)``) by the kernel ``g`` laid out ``(*O, N, Cout)``, with the
    strides and dilation swapped, in ``G`` groups, and the pads fitted so
    that it makes exactly ``K`` windows.
    """
    rank, groups = op.rank, op.groups
    n = axis_size(x, 0)
    sizes = spatial_sizes(x)
    per_group = axis_size(kernel, rank)
    swapped = reshape(x, (n, *sizes, groups, per_group)) if groups > 1 else x
    swapped = transpose(swapped, (swapped.ndim - 1, *range(1, rank + 1), *range(rank + 1, swapped.ndim - 1), 0))
    if groups > 1:
        swapped = reshape(swapped, (per_group, *sizes, groups * n))
    g_kernel = transpose(g, (*range(1, rank + 1), 0, rank + 1))
    fitted = _fitted_pads(pads, sizes, spatial_sizes(g), kernel, op)
    dk = Conv(op.dilation, op.strides, groups)(swapped, g_kernel, pads_vector(fitted))
    return transpose(dk, (*range(1, rank + 1), 0, rank + 1))

"""The ONNX project's node tests for Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool and
GlobalMaxPool, built from theanine's ops with ``data_format="channels_first"``.

Each test reads one ONNX node (``model.onnx``) and its first data set
(``test_data_set_0/*.pb``) with onnx's own helpers (``onnx.load``,
``onnx.numpy_helper.to_array``), translates the node's attributes to
``th.conv`` / ``th.conv_transpose`` / ``th.max_pool`` / ``th.average_pool``
(or a reduction for global pooling) and compares with the expected
outputs, under every backend, with the tolerance of onnx's own test
runner (some expected values are written with four digits).  onnx 1.23 stopped shipping these data
files; with such a version the same cases are generated in memory by
onnx's own generator (``onnx.backend.test.case.node``).

Translations of ONNX rules that the ops do not have as such:

- ``auto_pad="SAME_LOWER"``: explicit pads, the odd unit at the start.
- ``ceil_mode=1``: extra padding at the end for the last, partial window
  (dropped when it would start in the end padding, as ONNX says); it never
  wins a maximum and, with ``count_include_pad=0``, never counts.  With
  ``count_include_pad=1`` the explicit pads are zeros of the input
  (``th.pad``), so they count and the ceil overhang does not.
- ``ConvTranspose(output_shape=...)``: ONNX's ``total_padding`` split; a
  negative end pad (the output is longer than the full transposed result)
  becomes extra ``output_padding``.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import theanine as th

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
DATA = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
UNSUPPORTED = {
    "test_maxpool_with_argmax_2d_precomputed_pads": "the Indices output (positions of the maxima) is not "
                                                     "exposed: th.max_pool returns the values only",
    "test_maxpool_with_argmax_2d_precomputed_strides": "the Indices output (positions of the maxima) is not "
                                                        "exposed: th.max_pool returns the values only",
}


def _from_files() -> dict[str, tuple]:
    """``name -> (node, inputs, outputs)`` for every single-node test of OPS shipped as files."""
    cases = {}
    for folder in sorted(DATA.glob("test_*")):
        if not any(part in folder.name for part in ("conv", "pool")):
            continue
        graph = onnx.load(str(folder / "model.onnx")).graph
        if len(graph.node) != 1 or graph.node[0].op_type not in OPS:
            continue
        data = folder / "test_data_set_0"
        read = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(data.glob("*.pb"))]
        inputs = [a for p, a in zip(sorted(data.glob("*.pb")), read, strict=True) if p.name.startswith("input")]
        outputs = [a for p, a in zip(sorted(data.glob("*.pb")), read, strict=True) if p.name.startswith("output")]
        cases[folder.name] = (graph.node[0], inputs, outputs)
    return cases


def _generated() -> dict[str, tuple]:
    """The same cases from onnx's generator (for onnx versions that ship no data files)."""
    from onnx.backend.test.case import node as node_cases

    cases = {}
    for case in node_cases.collect_testcases(None):  # all ops: the generator registers its cases once
        graph = case.model.graph
        if len(graph.node) == 1 and graph.node[0].op_type in OPS:
            inputs, outputs = case.data_sets[0]
            cases[case.name] = (graph.node[0], list(inputs), list(outputs))
    return cases


CASES = _from_files() if DATA.is_dir() else _generated()


def _attributes(node) -> dict:
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _pairs(pads, rank):
    return [(pads[i], pads[i + rank]) for i in range(rank)]


def _same_pairs(sizes, kernel, strides, dilation, upper: bool):
    pairs = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if upper else (large, small))
    return pairs


def _window_options(attrs, sizes, kernel):
    """strides, dilation and padding (pairs or "same"/"valid") of a windowed ONNX node."""
    rank = len(kernel)
    strides = tuple(attrs.get("strides", [1] * rank))
    dilation = tuple(attrs.get("dilations", [1] * rank))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        padding = _pairs(attrs.get("pads", [0] * 2 * rank), rank)
    elif auto_pad == "VALID":
        padding = [(0, 0)] * rank
    else:
        padding = _same_pairs(sizes, kernel, strides, dilation, auto_pad == "SAME_UPPER")
    return strides, dilation, padding


def _ceil_overhang(sizes, kernel, strides, dilation, padding):
    """Extra end padding that ``ceil_mode`` adds for a last, partial window."""
    extra = []
    for n, k, s, d, (lo, hi) in zip(sizes, kernel, strides, dilation, padding, strict=True):
        span = (k - 1) * d + 1
        count = -(-(n + lo + hi - span) // s) + 1
        if (count - 1) * s >= n + lo:
            count -= 1
        extra.append(max((count - 1) * s + span - (n + lo + hi), 0))
    return extra


def _conv(node, x, w, *bias):
    attrs = _attributes(node)
    kernel = th.transpose(w, (*range(2, w.ndim), 1, 0))
    strides, dilation, padding = _window_options(attrs, x.type.shape[2:], w.type.shape[2:])
    y = th.conv(x, kernel, strides, padding, dilation, attrs.get("group", 1), "channels_first")
    return y + th.reshape(bias[0], (1, -1) + (1,) * (x.ndim - 2)) if bias else y


def _conv_transpose(node, x, w, *bias):
    attrs = _attributes(node)
    rank = x.ndim - 2
    kernel = th.transpose(w, (*range(2, w.ndim), 1, 0))
    sizes, taps = x.type.shape[2:], w.type.shape[2:]
    strides = tuple(attrs.get("strides", [1] * rank))
    dilation = tuple(attrs.get("dilations", [1] * rank))
    extra = list(attrs.get("output_padding", [0] * rank))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    wanted = attrs.get("output_shape")
    if wanted is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [n * s for n, s in zip(sizes, strides, strict=True)]
    if wanted is None:
        padding = _pairs(attrs.get("pads", [0] * 2 * rank), rank)
    else:
        padding = []
        for axis, (n, k, s, d, target) in enumerate(zip(sizes, taps, strides, dilation, wanted, strict=True)):
            total = s * (n - 1) + extra[axis] + (k - 1) * d + 1 - target
            start, end = (total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2,
                                                                                            total // 2)
            extra[axis] += max(-end, 0)
            padding.append((start, max(end, 0)))
    y = th.conv_transpose(x, kernel, strides, padding, extra, dilation, attrs.get("group", 1), "channels_first")
    return y + th.reshape(bias[0], (1, -1) + (1,) * rank) if bias else y


def _pool(node, x):
    attrs = _attributes(node)
    kernel = tuple(attrs["kernel_shape"])
    sizes = x.type.shape[2:]
    strides, dilation, padding = _window_options(attrs, sizes, kernel)
    overhang = _ceil_overhang(sizes, kernel, strides, dilation, padding) if attrs.get("ceil_mode") else [0] * len(
        kernel)
    if node.op_type == "MaxPool":
        padding = [(lo, hi + e) for (lo, hi), e in zip(padding, overhang, strict=True)]
        return th.max_pool(x, kernel, strides, padding, "channels_first", dilation)
    if attrs.get("count_include_pad") and any(overhang):
        x = th.pad(x, [(0, 0), (0, 0), *padding])
        padding = [(0, e) for e in overhang]
        return th.average_pool(x, kernel, strides, padding, "channels_first", False, dilation)
    padding = [(lo, hi + e) for (lo, hi), e in zip(padding, overhang, strict=True)]
    return th.average_pool(x, kernel, strides, padding, "channels_first", bool(attrs.get("count_include_pad")),
                           dilation)


def _global(node, x):
    reduce = th.max if node.op_type == "GlobalMaxPool" else th.mean
    return reduce(x, axis=tuple(range(2, x.ndim)), keepdims=True)


BUILDERS = {"Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _pool, "AveragePool": _pool,
            "GlobalAveragePool": _global, "GlobalMaxPool": _global}


def test_the_node_tests_are_found():
    found = {node.op_type for node, _, _ in CASES.values()}
    assert found == set(OPS), found
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_node(name, backend):
    if name in UNSUPPORTED:
        pytest.skip(UNSUPPORTED[name])
    node, inputs, expected = CASES[name]
    variables = [th.tensor(f"in{i}", a.dtype.name, a.shape) for i, a in enumerate(inputs)]
    out = BUILDERS[node.op_type](node, *variables)
    got = th.function(variables, out, backend=backend)(*inputs)
    assert got.dtype == expected[0].dtype and got.shape == expected[0].shape
    np.testing.assert_allclose(got, expected[0], rtol=1e-3, atol=1e-7, err_msg=name)  # onnx's runner's tolerance

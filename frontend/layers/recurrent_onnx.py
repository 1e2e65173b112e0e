"""The native ONNX form of SimpleRNN, LSTM and GRU layers, used when ``model.export`` traces them.

Traced for export (``call_context(onnx_export=True)``), a recurrent layer
whose options ONNX's RNN / LSTM / GRU ops express (default activations,
no mask, no initial state, forward, no returned states) becomes one
``OpFromGraph`` tagged with the ONNX node it stands for: its inner graph
is that node's ONNX semantics (codegen/onnx/import_loops.py, the reader's
own translation, checked on the ONNX node tests), its inputs the layer's
weights rearranged into ONNX's layout:

- LSTM: Keras' gate order i, f, c, o becomes ONNX's i, o, f, c; the bias
  is ONNX's input bias, its recurrent bias zero.
- GRU: both use z, r, h; ``reset_after=True`` is ``linear_before_reset=1``
  with Keras' two biases as ONNX's input and recurrent biases.
- Kernels ``(in, gates * units)`` become ``W (1, gates * units, in)``.

The exporter writes the tagged op as that single ONNX node (onnxruntime's
fused kernels) instead of a Loop; other options keep the Loop.
"""

from __future__ import annotations

import types

import theanine as th
from theanine.frontend import activations

ONNX_OPS = {"SimpleRNNCell": "RNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}
LSTM_ORDER = (0, 3, 1, 2)  # ONNX's i, o, f, c from Keras' i, f, c, o


def _is(fn, name: str) -> bool:
    return fn is activations.get(name, {})


def native_form_applies(layer, inputs, mask) -> bool:
    cell = layer.cell
    op = ONNX_OPS.get(type(cell).__name__)
    if op is None or mask is not None or isinstance(inputs, list) or layer.go_backwards or layer.return_state \
            or layer.stateful:
        return False
    if not _is(cell.activation, "tanh"):
        return False
    return op == "RNN" or _is(cell.recurrent_activation, "sigmoid")


def _gates(matrix, order, units):
    """The column blocks of ``matrix`` (..., gates * units) in ``order``."""
    return th.concatenate([matrix[..., k * units:(k + 1) * units] for k in order], axis=-1)


def _onnx_weights(cell, op: str):
    units = cell.units
    count = {"RNN": 1, "LSTM": 4, "GRU": 3}[op]
    order = LSTM_ORDER if op == "LSTM" else tuple(range(count))
    kernel, recurrent = th.as_tensor_variable(cell.kernel), th.as_tensor_variable(cell.recurrent_kernel)
    w = th.expand_dims(th.transpose(_gates(kernel, order, units)), 0)
    r = th.expand_dims(th.transpose(_gates(recurrent, order, units)), 0)
    zeros = th.zeros((count * units,), dtype=kernel.dtype)
    if cell.bias is None:
        input_bias, recurrent_bias = zeros, zeros
    elif op == "GRU" and cell.reset_after:
        bias = th.as_tensor_variable(cell.bias)
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = _gates(th.as_tensor_variable(cell.bias), order, units), zeros
    return w, r, th.expand_dims(th.concatenate([input_bias, recurrent_bias]), 0)


def native_call(layer, x):
    """The layer's output on ``x`` (batch, time, features) through one ONNX-tagged op."""
    from theanine.codegen.onnx.import_loops import onnx_recurrent

    cell = layer.cell
    op = ONNX_OPS[type(cell).__name__]
    attrs = {"hidden_size": cell.units}
    if op == "GRU":
        attrs["linear_before_reset"] = int(cell.reset_after)
    w, r, b = _onnx_weights(cell, op)
    sequence = th.transpose(x, (1, 0, 2))
    inner = [th.tensor(f"{op}_X", sequence.dtype, (None, None, sequence.type.shape[2]))]
    inner += [th.tensor(f"{op}_{name}", v.dtype, v.type.shape) for name, v in zip("WRB", (w, r, b), strict=True)]
    y, y_h, _ = onnx_recurrent(None, types.SimpleNamespace(op_type=op), inner, attrs)
    tagged = th.OpFromGraph(inner, [y, y_h], name=f"onnx_{op}")
    tagged.onnx_node = (op, attrs)
    y, y_h = tagged(sequence, w, r, b)
    return th.transpose(y[:, 0], (1, 0, 2)) if layer.return_sequences else y_h[0]

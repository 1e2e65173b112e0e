"""ONNX Scan, Loop, If and the recurrent ops RNN, GRU, LSTM as ``th.scan`` and ``th.ifelse``.

Loop bodies and If branches are translated by the reader (``ctx.run_graph``)
each time the step is traced.  ONNX's gate orders are kept as the spec has
them: LSTM i, o, f, c (Keras' is i, f, c, o), GRU z, r, h; peepholes i, o, f.
Sequence lengths mask the state (held) and the outputs (zero) past each
sequence's end.  Non-default activations, clip and input_forget are refused.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.import_sequences import either, unrolled_loop
from theanine.codegen.onnx.reader import Unsupported, imports


def _body_runner(ctx, body):
    names = [i.name for i in body.input]

    def step(*args):
        return ctx.run_graph(body, dict(zip(names, args, strict=True)))

    return step


# ------------------------------------------------------------------------------ Scan, Loop, If


@imports("Scan")
def onnx_scan(ctx, node, args, attrs) -> list:
    body, n_scan = attrs["body"], attrs["num_scan_inputs"]
    for key in ("scan_input_axes", "scan_output_axes", "scan_input_directions", "scan_output_directions"):
        if any(attrs.get(key, [])):
            raise Unsupported(f"{key} other than the default")
    batched = ctx.opset < 9
    if batched:  # opset 8: a batch axis first, and an optional sequence_lens input first
        states, scans = args[1:len(args) - n_scan], args[len(args) - n_scan:]
        return _batched_scan(ctx, body, states, scans)
    states, scans = args[:len(args) - n_scan], args[len(args) - n_scan:]
    return _scan9(ctx, body, states, scans)


def _scan9(ctx, body, states, scans) -> list:
    run = _body_runner(ctx, body)
    n_states = len(states)

    def step(*args):
        slices, carried = args[:len(scans)], args[len(scans):]
        outs = run(*carried, *slices)
        return list(outs)

    outputs_info = list(states) + [None] * (len(body.output) - n_states)
    results, _ = th.scan(step, sequences=list(scans), outputs_info=outputs_info, return_list=True)
    return [r[-1] for r in results[:n_states]] + list(results[n_states:])


def _batched_scan(ctx, body, states, scans) -> list:
    def one_batch(*args):
        batch_states, batch_scans = args[len(scans):], args[:len(scans)]
        return _scan9(ctx, body, list(batch_states), list(batch_scans))

    results, _ = th.scan(one_batch, sequences=list(scans) + list(states), return_list=True)
    return results


@imports("Loop")
def onnx_loop(ctx, node, args, attrs) -> list:
    body = attrs["body"]
    trip_count, condition, *carried = args
    if any(not isinstance(c, th.Variable) for c in carried):  # a sequence or an optional
        return unrolled_loop(ctx, node, args, attrs)
    if trip_count is None:
        raise Unsupported("a Loop without a trip count")
    n_carried = len(carried)
    run = _body_runner(ctx, body)

    def step(iteration, *state):
        cond_out, *outs = run(iteration, th.constant(True), *state)
        new_state, scan_outs = outs[:n_carried], outs[n_carried:]
        return [iteration + 1, *new_state, *scan_outs], th.until(th.logical_not(cond_out))

    steps = th.where(condition, trip_count, th.zeros_like(trip_count)) if condition is not None else trip_count
    start = th.constant(np.asarray(0, "int64"))
    n_scan = len(body.output) - 1 - n_carried
    results, _ = th.scan(step, outputs_info=[start, *carried] + [None] * n_scan, n_steps=steps, return_list=True)
    finals = [r[-1] for r in results[1:1 + n_carried]]
    return finals + list(results[1 + n_carried:])


@imports("If")
def onnx_if(ctx, node, args, attrs) -> list:
    """A lazy ``th.ifelse`` of both branches; a constant condition translates only the branch taken
    (the other may not even be valid for these shapes, as in ONNX's function bodies)."""
    known = ctx.static(args[0])
    if known is not None:
        return list(ctx.run_graph(attrs["then_branch" if bool(np.ravel(known)[0]) else "else_branch"], {}))
    then_outs = ctx.run_graph(attrs["then_branch"], {})
    else_outs = ctx.run_graph(attrs["else_branch"], {})
    condition = args[0] if args[0].ndim == 0 else th.reshape(args[0], ())  # ONNX: a tensor of one element
    return either(condition, then_outs, else_outs)


# ------------------------------------------------------------------------------ RNN, GRU, LSTM


def _gru_gates(x_part, h, recurrent, rb, linear_before_reset, hidden):
    """ONNX GRU: gates z, r, h."""
    r_z = h @ recurrent[:hidden].T + rb[:hidden]
    r_r = h @ recurrent[hidden:2 * hidden].T + rb[hidden:2 * hidden]
    z = th.sigmoid(x_part[:, :hidden] + r_z)
    r = th.sigmoid(x_part[:, hidden:2 * hidden] + r_r)
    if linear_before_reset:
        candidate = th.tanh(x_part[:, 2 * hidden:] + r * (h @ recurrent[2 * hidden:].T + rb[2 * hidden:]))
    else:
        candidate = th.tanh(x_part[:, 2 * hidden:] + (r * h) @ recurrent[2 * hidden:].T + rb[2 * hidden:])
    return (1.0 - z) * candidate + z * h


def _lstm_cell(x_part, h, c, recurrent, rb, peep, hidden):
    """ONNX LSTM: gates i, o, f, c; peepholes i, o, f."""
    z = x_part + h @ recurrent.T + rb
    i = th.sigmoid(z[:, :hidden] + peep[:hidden] * c)
    f = th.sigmoid(z[:, 2 * hidden:3 * hidden] + peep[2 * hidden:] * c)
    c_new = f * c + i * th.tanh(z[:, 3 * hidden:])
    o = th.sigmoid(z[:, hidden:2 * hidden] + peep[hidden:2 * hidden] * c_new)
    return o * th.tanh(c_new), c_new


RECURRENT = {"RNN": 1, "GRU": 3, "LSTM": 4}


@imports("RNN", "GRU", "LSTM")
def onnx_recurrent(ctx, node, args, attrs) -> list:
    op = node.op_type
    for key in ("activations", "clip"):
        if key in attrs and (key == "clip" or any(a.lower() not in ("sigmoid", "tanh") for a in attrs[key])):
            raise Unsupported(f"the {key} attribute (only the default activations)")
    if attrs.get("input_forget", 0):
        raise Unsupported("input_forget=1")
    x, w, r = args[:3]
    rest = list(args[3:]) + [None] * (5 - len(args[3:]))
    b, seq_lens, init_h, init_c, peep = rest[:5]
    hidden, gates = attrs["hidden_size"], RECURRENT[op]
    if attrs.get("layout", 0) == 1:
        x = th.transpose(x, (1, 0, 2))
        init_h = None if init_h is None else th.transpose(init_h, (1, 0, 2))
        init_c = None if init_c is None else th.transpose(init_c, (1, 0, 2))
    direction = attrs.get("direction", "forward")
    directions = [False, True] if direction == "bidirectional" else [direction == "reverse"]
    batch = x.shape[1]
    ys, hs, cs = [], [], []
    for d, backwards in enumerate(directions):
        wb = b[d, :gates * hidden] if b is not None else th.zeros((gates * hidden,), x.dtype)
        rb = b[d, gates * hidden:] if b is not None else th.zeros((gates * hidden,), x.dtype)
        h0 = init_h[d] if init_h is not None else th.zeros((batch, hidden), x.dtype)
        c0 = init_c[d] if init_c is not None else th.zeros((batch, hidden), x.dtype)
        p = peep[d] if peep is not None else th.zeros((3 * hidden,), x.dtype)
        mask = _length_mask(seq_lens, x)
        y, h, c = _direction(op, x, w[d], r[d], wb, rb, h0, c0, p, mask, backwards, attrs)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    y = th.stack(ys, axis=1)
    y_h, y_c = th.stack(hs), th.stack(cs)
    if attrs.get("layout", 0) == 1:
        y, y_h, y_c = th.transpose(y, (2, 0, 1, 3)), th.transpose(y_h, (1, 0, 2)), th.transpose(y_c, (1, 0, 2))
    return [y, y_h, y_c]


def _length_mask(seq_lens, x):
    if seq_lens is None:
        return None
    steps = th.arange(x.shape[0], dtype="int64")
    return th.less(th.expand_dims(steps, 1), th.expand_dims(th.cast(seq_lens, "int64"), 0))


def _direction(op, x, w, r, wb, rb, h0, c0, p, mask, backwards, attrs):
    hidden = attrs["hidden_size"]
    sequences = [x] if mask is None else [x, mask]

    def step(x_t, *rest):
        m, (h, c) = (rest[0], rest[1:]) if mask is not None else (None, rest)
        x_part = x_t @ w.T + wb
        if op == "RNN":
            h_new, c_new = th.tanh(x_part + h @ r.T + rb), c
        elif op == "GRU":
            h_new, c_new = _gru_gates(x_part, h, r, rb, attrs.get("linear_before_reset", 0), hidden), c
        else:
            h_new, c_new = _lstm_cell(x_part, h, c, r, rb, p, hidden)
        if m is not None:
            keep = th.expand_dims(m, 1)
            h_new, c_new = th.where(keep, h_new, h), th.where(keep, c_new, c)
            return h_new, c_new, th.where(keep, h_new, th.zeros_like(h_new))
        return h_new, c_new, h_new

    (h_all, c_all, y), _ = th.scan(step, sequences=sequences, outputs_info=[h0, c0, None], go_backwards=backwards)
    if backwards:
        y = y[::-1]
    return y, h_all[-1], c_all[-1]

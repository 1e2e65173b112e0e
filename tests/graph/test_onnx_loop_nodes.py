"""ONNX node tests for Scan, Loop, If, RNN, GRU and LSTM, built from th.scan and th.ifelse.

The cases are the ``onnx`` package's backend node tests: read from
``onnx/backend/test/data/node/test_*`` with ``onnx.load`` and
``onnx.numpy_helper`` where the package ships that folder, else generated
in memory by ``onnx.backend.test.case.node`` (the code that writes the
folder; onnx 1.23's wheels ship the generators, not the files).  Each ONNX
node is translated here, for the test, into theanine's loop ops; the small
translator covers the ops the cases' bodies use.

Cases not run, with the reason (they use ONNX types theanine does not have):

- test_if_seq, test_if_opt: the branches return ONNX sequences / optionals;
- test_loop13_seq, test_loop16_seq_none: the loop carries an ONNX sequence /
  optional (SequenceInsert, OptionalHasElement).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import theanine as th

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

NOT_SUPPORTED = {
    "test_if_seq": "the branches return ONNX sequences (no sequence type in theanine)",
    "test_if_opt": "the branches return ONNX optionals (no optional type in theanine)",
    "test_loop13_seq": "the loop carries an ONNX sequence (SequenceInsert)",
    "test_loop16_seq_none": "the loop carries an ONNX optional sequence (OptionalHasElement)",
}
OPS = ("Scan", "Loop", "If", "RNN", "GRU", "LSTM")


def _cases_from_folder(folder: str) -> dict:
    cases = {}
    for name in sorted(os.listdir(folder)):
        model_path = os.path.join(folder, name, "model.onnx")
        if not os.path.exists(model_path):
            continue
        model = onnx.load(model_path)
        if model.graph.node[0].op_type not in OPS:
            continue
        data = os.path.join(folder, name, "test_data_set_0")
        inputs = [_read_tensor(os.path.join(data, f"input_{i}.pb")) for i in range(len(model.graph.input))]
        outputs = [_read_tensor(os.path.join(data, f"output_{i}.pb")) for i in range(len(model.graph.output))]
        cases[name] = (model, inputs, outputs)
    return cases


def _read_tensor(path: str):
    tensor = onnx.TensorProto()
    with open(path, "rb") as handle:
        tensor.ParseFromString(handle.read())
    return numpy_helper.to_array(tensor)


def _cases_generated() -> dict:
    from onnx.backend.test.case.node import collect_testcases

    with np.errstate(all="ignore"):
        found = collect_testcases()
    return {c.name: (c.model, *c.data_sets[0]) for c in found if c.model.graph.node[0].op_type in OPS}


def _all_cases() -> dict:
    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    return _cases_from_folder(folder) if os.path.isdir(folder) else _cases_generated()


CASES = _all_cases()


# ------------------------------------------------------------------------------ a small translator


def _attributes(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _slice(x, starts, ends, axes=None, steps=None):
    index = [slice(None)] * x.ndim
    count = starts.type.shape[0] if starts.type.shape[0] is not None else 1
    axes = list(range(count)) if axes is None else [int(a) for a in np.asarray(axes.data)]
    for k, axis in enumerate(axes):
        index[axis] = slice(starts[k], ends[k], None if steps is None else steps[k])
    return x[tuple(index)]


def _unsqueeze(x, axes):
    for axis in sorted(int(a) for a in np.ravel(axes)):
        x = th.expand_dims(x, axis)
    return x


ELEMENTARY = {
    "Add": lambda a, b, **_: a + b,
    "Sub": lambda a, b, **_: a - b,
    "Mul": lambda a, b, **_: a * b,
    "Identity": lambda a, **_: a,
    "Not": lambda a, **_: th.logical_not(a),
    "Greater": lambda a, b, **_: th.greater(a, b),
    "Less": lambda a, b, **_: th.less(a, b),
    "Slice": lambda x, starts, ends, axes=None, steps=None, **_: _slice(x, starts, ends, axes, steps),
}


def run_graph(graph, env: dict) -> list:
    """The variables of ``graph``'s outputs, its inputs bound in ``env`` (name -> variable)."""
    env = dict(env)
    for init in graph.initializer:
        env[init.name] = th.constant(numpy_helper.to_array(init))
    for node in graph.node:
        attrs = _attributes(node)
        args = [env[name] if name else None for name in node.input]
        outputs = _apply(node, args, attrs)
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                env[name] = value
    return [env[o.name] for o in graph.output]


def _apply(node, args, attrs) -> list:
    op = node.op_type
    if op == "Constant":
        return [th.constant(numpy_helper.to_array(attrs["value"]))]
    if op == "Unsqueeze":
        axes = attrs["axes"] if "axes" in attrs else args[1].data
        return [_unsqueeze(args[0], axes)]
    if op in ELEMENTARY:
        return [ELEMENTARY[op](*args)]
    if op == "Scan":
        return onnx_scan(node, args, attrs)
    if op == "Loop":
        return onnx_loop(node, args, attrs)
    if op == "If":
        return onnx_if(node, args, attrs)
    if op in RECURRENT:
        return onnx_recurrent(op, args, attrs)
    raise NotImplementedError(f"the test translator has no rule for ONNX {op}")


def _body_runner(body):
    names = [i.name for i in body.input]

    def step(*args):
        return run_graph(body, dict(zip(names, args, strict=True)))

    return step


# ------------------------------------------------------------------------------ Scan, Loop, If


def onnx_scan(node, args, attrs) -> list:
    body, n_scan = attrs["body"], attrs["num_scan_inputs"]
    batched = _OPSET["current"] < 9
    if batched:  # opset 8: a batch axis first, and an optional sequence_lens input first
        states, scans = args[1:len(args) - n_scan], args[len(args) - n_scan:]
        return _batched_scan(body, states, scans)
    states, scans = args[:len(args) - n_scan], args[len(args) - n_scan:]
    return _scan9(body, states, scans)


def _scan9(body, states, scans) -> list:
    run = _body_runner(body)
    n_states = len(states)

    def step(*args):
        slices, carried = args[:len(scans)], args[len(scans):]
        outs = run(*carried, *slices)
        return list(outs)

    outputs_info = list(states) + [None] * (len(body.output) - n_states)
    results, _ = th.scan(step, sequences=list(scans), outputs_info=outputs_info, return_list=True)
    return [r[-1] for r in results[:n_states]] + list(results[n_states:])


def _batched_scan(body, states, scans) -> list:
    def one_batch(*args):
        batch_states, batch_scans = args[len(scans):], args[:len(scans)]
        return _scan9(body, list(batch_states), list(batch_scans))

    results, _ = th.scan(one_batch, sequences=list(scans) + list(states), return_list=True)
    return results


_OPSET = {"current": 11}
"""The opset of the model being translated (Scan changed its signature at opset 9)."""


def onnx_loop(node, args, attrs) -> list:
    body = attrs["body"]
    trip_count, condition, *carried = args
    n_carried = len(carried)
    run = _body_runner(body)

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


def onnx_if(node, args, attrs) -> list:
    then_outs = run_graph(attrs["then_branch"], {})
    else_outs = run_graph(attrs["else_branch"], {})
    result = th.ifelse(args[0], then_outs, else_outs)
    return list(result)


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


def onnx_recurrent(op, args, attrs) -> list:
    x, w, r = args[:3]
    rest = list(args[3:]) + [None] * (5 - len(args[3:]))
    b, seq_lens, init_h, init_c, peep = rest[:5]
    hidden, gates = attrs["hidden_size"], RECURRENT[op]
    if attrs.get("layout", 0) == 1:
        x = th.transpose(x, (1, 0, 2))
        init_h = None if init_h is None else th.transpose(init_h, (1, 0, 2))
        init_c = None if init_c is None else th.transpose(init_c, (1, 0, 2))
    direction = attrs.get("direction", b"forward")
    directions = [False, True] if direction == b"bidirectional" else [direction == b"reverse"]
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


# ------------------------------------------------------------------------------ the tests


def _run_case(name: str, backend: str):
    model, inputs, expected = CASES[name]
    graph = model.graph
    _OPSET["current"] = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    symbols, values = {}, []
    for info, value in zip(graph.input, inputs, strict=False):
        value = np.asarray(value)
        symbols[info.name] = th.tensor(info.name, value.dtype, value.shape)
        values.append(value)
    outputs = run_graph(graph, symbols)
    f = th.function(list(symbols.values()), outputs, backend=backend)
    return f(*values), expected


RUNNABLE = sorted(n for n in CASES if n not in NOT_SUPPORTED)


@pytest.mark.parametrize("name", RUNNABLE)
def test_onnx_node_case(name, backend):
    got, expected = _run_case(name, backend)
    for g, e in zip(got, expected, strict=False):
        e = np.asarray(e)
        assert g.shape == e.shape, f"{name}: shape {g.shape} != {e.shape}"
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-6, err_msg=name)


def test_every_loop_case_is_run_or_listed():
    ops = {CASES[n][0].graph.node[0].op_type for n in RUNNABLE}
    assert ops == set(OPS)
    assert set(NOT_SUPPORTED) <= set(CASES)

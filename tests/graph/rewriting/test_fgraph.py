"""FunctionGraph: private copy, client lists, replace with type validation, features, verifier."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.fgraph import OUTPUT, FunctionGraph, InconsistencyError


def _graph():
    x = th.vector("x", dtype="float64")
    y = th.exp(x) * 2.0 + x
    return x, y, FunctionGraph([x], [y])


def test_owns_a_private_copy_and_keeps_constants_and_shared():
    x = th.vector("x", dtype="float64")
    w = th.shared(np.ones(3), name="w")
    c = th.constant(np.arange(3.0))
    y = x * w + c
    fgraph = FunctionGraph([x], [y])
    assert fgraph.inputs[0] is not x and fgraph.outputs[0] is not y
    assert y.owner.inputs[0].owner.inputs[0] is x, "the user's graph is untouched"
    free = {v for v in fgraph.variables if v.owner is None}
    assert w in free and c in free
    fgraph.check_integrity()


def test_clients_list_every_reader_and_the_outputs():
    _, _, fgraph = _graph()
    (x,) = fgraph.inputs
    readers = [node.op for node, _ in fgraph.clients[x]]
    assert sorted(map(str, readers)) == ["Elemwise{add}", "Elemwise{exp}"]
    assert list(fgraph.clients[fgraph.outputs[0]]) == [(OUTPUT, 0)]


def test_replace_moves_clients_and_prunes_the_dead_node():
    _, _, fgraph = _graph()
    (x,) = fgraph.inputs
    product = fgraph.outputs[0].owner.inputs[0]
    fgraph.replace(product, x * 3.0, reason="test")
    fgraph.check_integrity()
    assert not any(str(n.op) == "Elemwise{exp}" for n in fgraph.apply_nodes)
    assert len(fgraph) == 3


def test_replace_with_another_type_raises_naming_the_rewrite():
    _, _, fgraph = _graph()
    (x,) = fgraph.inputs
    with pytest.raises(
        TypeError, match="rewrite 'my_rewrite'.*dtype changes from float64 to float32"
    ):
        fgraph.replace(fgraph.outputs[0], th.cast(x, "float32"), reason="my_rewrite")
    with pytest.raises(TypeError, match="rank changes"):
        fgraph.replace(fgraph.outputs[0], th.sum(x), reason="r")


def test_replace_may_not_lose_a_broadcastable_dimension():
    x = th.tensor("x", dtype="float64", shape=(1, None))
    y = th.exp(x)
    fgraph = FunctionGraph([x], [y])
    other = th.tensor("o", dtype="float64", shape=(None, None))
    with pytest.raises(TypeError, match="broadcastable dimension"):
        fgraph.replace(fgraph.outputs[0], other * 1.0, reason="widen")


def test_replacement_reading_the_replaced_variable_is_a_cycle():
    _, _, fgraph = _graph()
    out = fgraph.outputs[0]
    with pytest.raises(InconsistencyError, match="cycle"):
        fgraph.replace(out, out * 2.0, reason="loop")
    fgraph.check_integrity()


def test_replacement_reading_a_foreign_input_is_refused():
    _, _, fgraph = _graph()
    stranger = th.vector("stranger", dtype="float64")
    with pytest.raises(InconsistencyError, match="stranger"):
        fgraph.replace(fgraph.outputs[0], stranger + 1.0, reason="foreign")


def test_features_hear_imports_prunes_and_changes():
    events = []

    class Recorder:
        def on_attach(self, fgraph):
            events.append("attach")

        def on_import(self, fgraph, node, reason):
            events.append(("import", str(node.op), reason))

        def on_prune(self, fgraph, node, reason):
            events.append(("prune", str(node.op), reason))

        def on_change(self, fgraph, node, index, old, new, reason):
            events.append(("change", index, reason))

    _, _, fgraph = _graph()
    fgraph.attach_feature(Recorder())
    (x,) = fgraph.inputs
    fgraph.replace(fgraph.outputs[0], th.log(x), reason="why")
    assert events[0] == "attach"
    assert ("import", "Elemwise{log}", "why") in events
    assert ("change", 0, "why") in events
    assert ("prune", "Elemwise{add}", "why") in events and (
        "prune",
        "Elemwise{exp}",
        "why",
    ) in events


def test_check_integrity_finds_a_corrupted_client_list():
    _, _, fgraph = _graph()
    (x,) = fgraph.inputs
    fgraph.clients[x].pop()
    with pytest.raises(InconsistencyError, match="clients of x"):
        fgraph.check_integrity()


def test_replace_input_restores_the_callers_variables():
    x, y, fgraph = _graph()
    fgraph.replace_input(0, x)
    fgraph.check_integrity()
    assert fgraph.inputs[0] is x
    assert th.function([x], fgraph.outputs[0], mode="none")(np.array([0.0, 1.0])) == pytest.approx(
        2 * np.exp([0.0, 1.0]) + [0.0, 1.0]
    )


def test_toposort_is_deterministic_and_inputs_first():
    _, _, fgraph = _graph()
    order = fgraph.toposort()
    assert [str(n.op) for n in order] == [str(n.op) for n in fgraph.toposort()]
    assert order[-1] is fgraph.outputs[0].owner

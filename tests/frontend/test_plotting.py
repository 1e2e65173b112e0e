"""utils.model_to_dot / utils.plot_model: the DOT text Keras 3 draws, and Graphviz's dot."""

import shutil

import numpy as np
import pydot
import pytest

from theanine.frontend import layers, models, plotting, utils


def _functional():
    inputs = layers.Input((4,), name="features")
    a = layers.Dense(8, activation="relu", name="hidden")(inputs)
    b = layers.Dense(8, name="skip")(inputs)
    merged = layers.Add(name="merge")([a, b])
    return models.Model(inputs, layers.Dense(1, name="out")(merged), name="net")


def _parse(text):
    (graph,) = pydot.graph_from_dot_data(text)
    labels = {n.get_name(): n.get_label() for n in graph.get_nodes() if n.get_label()}
    edges = {(e.get_source(), e.get_destination()) for e in graph.get_edges()}
    return graph, labels, edges


def test_model_to_dot_has_one_node_per_layer_and_the_layer_call_edges():
    model = _functional()
    _, labels, edges = _parse(utils.model_to_dot(model))
    ids = {layer.name: plotting._node_id(layer) for layer in model.layers}
    assert {ids[n] for n in ("features", "hidden", "skip", "merge", "out")} == set(labels)
    expected = {("features", "hidden"), ("features", "skip"), ("hidden", "merge"),
                ("skip", "merge"), ("merge", "out")}
    assert edges == {(ids[a], ids[b]) for a, b in expected}
    assert "<b>hidden</b> (Dense)" in labels[ids["hidden"]]
    assert "Input shape" not in labels[ids["hidden"]]  # show_shapes=False by default
    assert "rankdir=TB" in utils.model_to_dot(model)


def test_model_to_dot_options_add_keras_rows():
    model = _functional()
    text = utils.model_to_dot(model, show_shapes=True, show_dtype=True, show_layer_names=False,
                              rankdir="LR", show_layer_activations=True, show_trainable=True)
    _, labels, _ = _parse(text)
    hidden = labels[plotting._node_id(model.get_layer("hidden"))]
    for row in ("Dense", "dtype: float32", "Input shape: (None, 4)", "Output shape: (None, 8)",
                "Activation: relu", "Trainable: True"):
        assert row in hidden
    assert "<b>hidden</b>" not in hidden and "rankdir=LR" in text


def test_subclassed_model_is_one_node_and_unbuilt_models_are_refused():
    class Net(models.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    with pytest.raises(ValueError, match="has not yet been built"):
        utils.model_to_dot(net)
    net(np.zeros((1, 3), "float32"))
    _, labels, edges = _parse(utils.model_to_dot(net))
    assert list(labels.values()) == ['<<table border="0" cellborder="1" cellspacing="0"><tr>'
                                     '<td colspan="1"><b>net</b> (Net)</td></tr></table>>']
    assert edges == set()
    with pytest.raises(ValueError, match="rankdir must be one of"):
        utils.model_to_dot(net, rankdir="BT")


def test_plot_model_writes_dot_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(plotting.shutil, "which", lambda name: None)
    model = _functional()
    path = tmp_path / "model.dot"
    utils.plot_model(model, to_file=str(path), show_shapes=True)
    assert path.read_text() == utils.model_to_dot(model, show_shapes=True)
    with pytest.raises(ImportError, match="You must install graphviz .*apt-get install graphviz"):
        utils.plot_model(model, to_file=str(tmp_path / "model.png"))
    assert not (tmp_path / "model.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_plot_model_renders_png_and_svg_through_dot(tmp_path):
    model = _functional()
    utils.plot_model(model, to_file=str(tmp_path / "model.png"), show_shapes=True)
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    utils.plot_model(model, to_file=str(tmp_path / "model.svg"))
    assert "<b>hidden</b>" not in (tmp_path / "model.svg").read_text()  # rendered, not raw
    assert "hidden" in (tmp_path / "model.svg").read_text()

"""debugprint, to_networkx, to_dot and render."""

import numpy as np
import pydot
import pytest

import theanine as th
from theanine.graph import printing
from theanine.graph.printing import MAX_DEPTH


def _graph():
    x = th.matrix("x")
    b = th.shared(np.zeros(3, "float32"), name="b")
    h = th.tanh(x + b)
    return x, b, (h * h).sum(axis=1)


def test_debugprint_shows_each_node_once_with_types():
    _, _, z = _graph()
    text = th.debugprint(z, file="str")
    lines = text.splitlines()
    assert lines[0].endswith("float32(?,)")
    tanh_lines = [line for line in lines if "Elemwise{tanh}" in line]
    assert len(tanh_lines) == 2, text
    assert tanh_lines[0].endswith("float32(?, 3)")
    assert tanh_lines[1].endswith("···"), "the second reference is not expanded"
    assert sum("x [id" in line for line in lines) == 1
    assert any("b (shared)" in line and "float32(3,)" in line for line in lines)


def test_debugprint_known_graph_text():
    x = th.vector("x")
    y = th.exp(x) + 1.0
    expected = (
        "Elemwise{add} [id A] float32(?,)\n"
        "├─ Elemwise{exp} [id B] float32(?,)\n"
        "│  └─ x [id C] float32(?,)\n"
        "└─ DimShuffle{pattern=('x',)} [id D] float32(1,)\n"
        "   └─ Constant{1.} [id E] float32()\n"
    )
    assert th.debugprint(y, file="str") == expected


def test_debugprint_writes_to_stdout(capsys):
    x = th.vector("x")
    assert th.debugprint(th.exp(x)) is None
    assert "Elemwise{exp}" in capsys.readouterr().out


def test_debugprint_rejects_other_objects():
    with pytest.raises(TypeError, match="cannot print a int"):
        th.debugprint(3, file="str")


def test_debugprint_deep_graph_does_not_recurse():
    x = th.vector("x")
    y = x
    for _ in range(3000):
        y = y + 1.0
    text = th.debugprint(y, file="str")
    lines = text.splitlines()
    assert sum("Elemwise{add}" in line and not line.endswith(" ↓") for line in lines) == 3000
    cut = [line.split("[id ")[1].split("]")[0] for line in lines if line.endswith(" ↓")]
    assert cut and all(f"[id {ident}]" in text.split("Continued:")[1] for ident in cut)
    assert max(len(line) for line in lines) < 4 * MAX_DEPTH + 60  # the text grows linearly


def test_to_networkx_counts_and_attributes():
    _, _, z = _graph()
    graph = th.to_networkx(z)
    applies = [n for n, a in graph.nodes(data=True) if a["kind"] == "apply"]
    variables = [n for n, a in graph.nodes(data=True) if a["kind"] == "variable"]
    # DimShuffle(b), add, tanh, multiply, sum
    assert len(applies) == 5
    # x, b, dimshuffled b, add, tanh, multiply, sum
    assert len(variables) == 7
    ops = sorted(graph.nodes[n]["op_type"] for n in applies)
    assert ops == ["DimShuffle", "Elemwise", "Elemwise", "Elemwise", "Reduce"]
    outputs = [n for n, a in graph.nodes(data=True) if a.get("is_output")]
    assert len(outputs) == 1 and graph.nodes[outputs[0]]["shape"] == (None,)
    roles = sorted(a["role"] for _, a in graph.nodes(data=True) if a["kind"] == "variable")
    assert roles.count("shared") == 1 and roles.count("input") == 1


def test_to_dot_parses_and_matches_networkx():
    _, _, z = _graph()
    text = th.to_dot(z)
    (parsed,) = pydot.graph_from_dot_data(text)
    names = {n.get_name() for n in parsed.get_nodes()} - {"node"}
    graph = th.to_networkx(z)
    assert names == set(graph.nodes)
    assert len(parsed.get_edges()) == graph.number_of_edges()


def test_render_without_graphviz_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(printing.shutil, "which", lambda name: None)
    with pytest.raises(th.GraphvizNotFoundError, match="Graphviz's 'dot' program"):
        th.render(th.exp(th.vector("x")), str(tmp_path / "g.svg"))


def test_render_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unsupported format 'gif'"):
        th.render(th.exp(th.vector("x")), str(tmp_path / "g.gif"))


@pytest.mark.skipif(printing.shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg(tmp_path):
    path = th.render(th.exp(th.vector("x")), str(tmp_path / "g.svg"))
    assert open(path).read().lstrip().startswith("<?xml")


def test_debugprint_theano_options_depth_ids_stop_on_name():
    x = th.dvector("x")
    y = (th.exp(x) * 2).sum()
    y.name = "y"
    z = y + 1
    assert th.debugprint(z, depth=1, print_type=False, file="str") == "Elemwise{add} [id A]\n"
    two = th.debugprint(z, depth=2, print_type=False, file="str").splitlines()
    assert len(two) == 3 and two[1].endswith("[id B] 'y'")
    assert th.debugprint(z, stop_on_name=True, print_type=False, file="str").splitlines() == two
    numbered = th.debugprint(z, ids="int", print_type=False, file="str")
    assert numbered.splitlines()[0] == "Elemwise{add} [id 0]" and "x [id 4]" in numbered
    bare = th.debugprint(z, ids="", print_type=False, file="str")
    assert "[id" not in bare and len(bare.splitlines()) == 8
    with pytest.raises(ValueError, match="ids must be one of"):
        th.debugprint(z, ids="letters")
    with pytest.raises(TypeError, match="depth must be an int"):
        th.debugprint(z, depth=None)


def test_print_op_prints_when_computed_and_passes_gradients(capsys):
    x = th.dvector("x")
    f = th.function([x], th.Print("x is")(x) * 2)
    assert np.allclose(f([1.0, 2.0]), [2.0, 4.0])
    assert capsys.readouterr().out == "x is __str__ = [1. 2.]\n"
    g = th.function([x], [th.Print("v", attrs=("shape", "sum"))(x**2), th.grad(th.Print("w")(x**2).sum(), x)])
    value, gradient = g([1.0, 3.0])
    assert np.allclose(value, [1.0, 9.0]) and np.allclose(gradient, [2.0, 6.0])
    assert "v shape = (2,)\nv sum = 10.0\n" in capsys.readouterr().out
    assert th.printing.Print is th.Print and th.printing.pprint is th.pp
    with pytest.raises(TypeError, match="message must be a str"):
        th.Print(3)


def test_pydotprint_writes_the_file(tmp_path, monkeypatch):
    x = th.dvector("x")
    f = th.function([x], x * 2)
    if printing.shutil.which("dot") is None:
        with pytest.raises(th.GraphvizNotFoundError):
            th.printing.pydotprint(f, outfile=str(tmp_path / "f.png"))
        return
    path = th.printing.pydotprint(f, outfile=str(tmp_path / "f.png"), var_with_name_simple=True,
                                  print_output_file=False)
    assert (tmp_path / "f.png").stat().st_size > 0 and path.endswith("f.png")

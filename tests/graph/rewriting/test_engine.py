"""The engine: node and pattern rewriters, equilibrium driver, merge, modes, report, th.rewrite."""

import numpy as np
import pytest

import theanine as th
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.ops.math import ELEMWISE_OPS
from theanine.graph.rewriting import PatternRewriter, RewriteCycleError, node_rewriter
from theanine.graph.rewriting.db import RewriteDatabase, run_phases
from theanine.graph.rewriting.drivers import EquilibriumRewriter, merge
from theanine.graph.rewriting.report import PhaseReport, RewriteReport

EXP, LOG, NEG, SIN, COS = (ELEMWISE_OPS[n] for n in ("exp", "log", "negative", "sin", "cos"))


def _run(rewriters, outputs, inputs):
    fgraph = FunctionGraph(inputs, outputs)
    phase = PhaseReport("test", len(fgraph))
    EquilibriumRewriter(rewriters)(fgraph, phase)
    fgraph.check_integrity()
    return fgraph, phase


def test_node_rewriter_sees_only_tracked_ops_and_fires_to_a_fixed_point():
    seen = []

    @node_rewriter([NEG])
    def drop_negations(node):
        seen.append(str(node.op))
        return [node.inputs[0]] if node.outputs[0].type == node.inputs[0].type else None

    x = th.vector("x", dtype="float64")
    fgraph, phase = _run([drop_negations], [th.exp(-(-(-x)))], [x])  # noqa: B002
    assert set(seen) == {"Elemwise{negative}"}
    assert [str(n.op) for n in fgraph.toposort()] == ["Elemwise{exp}"]
    assert phase.fired == {"drop_negations": 3}


def test_pattern_rewriter_binds_variables_and_respects_repeated_names():
    x, y = th.vector("x", dtype="float64"), th.vector("y", dtype="float64")
    same = PatternRewriter(
        (ELEMWISE_OPS["multiply"], "a", "a"), (ELEMWISE_OPS["square"], "a"), name="sq"
    )
    fgraph, phase = _run([same], [x * x, x * y], [x, y])
    assert [str(o.owner.op) for o in fgraph.outputs] == ["Elemwise{square}", "Elemwise{multiply}"]
    assert phase.fired == {"sq": 1}


def test_pattern_matches_commutative_operands_and_constants_in_either_order():
    x = th.vector("x", dtype="float64")
    rewrite = PatternRewriter(
        (LOG, (ELEMWISE_OPS["add"], 1, "x")), (ELEMWISE_OPS["log1p"], "x"), name="l1p"
    )
    fgraph, phase = _run([rewrite], [th.log(x + 1.0), th.log(1.0 + x), th.log(x + 2.0)], [x])
    assert phase.fired == {"l1p": 2}
    assert str(fgraph.outputs[2].owner.op) == "Elemwise{log}"


def test_pattern_declines_a_replacement_of_another_type():
    x = th.tensor("x", dtype="float64", shape=(None,))
    ones = th.constant(np.ones((2, 1)))
    rewrite = PatternRewriter(
        (LOG, (ELEMWISE_OPS["add"], 1, "x")), (ELEMWISE_OPS["log1p"], "x"), name="l1p"
    )
    _, phase = _run([rewrite], [th.log(ones + x)], [x])
    assert phase.fired == {}


def test_rewrites_that_undo_each_other_raise_a_cycle_error_naming_them():
    to_cos = PatternRewriter((SIN, "x"), (COS, "x"), name="sin_to_cos")
    to_sin = PatternRewriter((COS, "x"), (SIN, "x"), name="cos_to_sin")
    x = th.vector("x", dtype="float64")
    with pytest.raises(RewriteCycleError, match="sin_to_cos.*cos_to_sin|cos_to_sin.*sin_to_cos"):
        _run([to_cos, to_sin], [th.sin(x)], [x])


def test_a_rewrite_returning_the_wrong_number_of_outputs_is_reported():
    @node_rewriter([EXP])
    def broken(node):
        return [node.inputs[0], node.inputs[0]]

    x = th.vector("x", dtype="float64")
    with pytest.raises(ValueError, match="rewrite 'broken' returned 2 replacement"):
        _run([broken], [th.exp(x)], [x])


def test_a_rewrite_changing_the_type_raises_naming_it():
    @node_rewriter([EXP])
    def bad_cast(node):
        return [th.cast(node.inputs[0], "float32")]

    x = th.vector("x", dtype="float64")
    with pytest.raises(TypeError, match="rewrite 'bad_cast'"):
        _run([bad_cast], [th.exp(x)], [x])


def test_merge_unifies_equal_nodes_and_equal_constants():
    x = th.vector("x", dtype="float64")
    a = th.exp(x) + th.constant(np.array([2.0]))
    b = th.exp(x) + th.constant(np.array([2.0]))
    fgraph = FunctionGraph([x], [a, b])
    phase = PhaseReport("merge", len(fgraph))
    merge(fgraph, phase)
    fgraph.check_integrity()
    assert fgraph.outputs[0] is fgraph.outputs[1]
    assert len(fgraph) == 2
    assert phase.fired == {"merge_constants": 1, "merge": 2}


def test_merge_keeps_random_draws_apart():
    draws = [th.random.uniform((3,)) for _ in range(1)]
    op = draws[0].owner.op
    assert getattr(op, "deterministic", True) is False
    x = th.vector("x", dtype="float32")
    twice = [op.make_node(*draws[0].owner.inputs).outputs[-1] + x for _ in range(2)]
    fgraph = FunctionGraph([x], twice)
    merge(fgraph, PhaseReport("merge", len(fgraph)))
    assert fgraph.outputs[0] is not fgraph.outputs[1]


def test_modes_select_phases():
    x = th.vector("x", dtype="float64")
    y = th.log(1.0 + th.exp(x) * 1.0)
    for mode, phases in [("fast_run", 6), ("fast_compile", 2), ("none", 0)]:
        f = th.function([x], y, mode=mode)
        assert len(f.rewrite_report.phases) == phases
    assert "log1p" in th.function([x], y).rewrite_report.fired
    assert "log1p" not in th.function([x], y, mode="fast_compile").rewrite_report.fired
    with pytest.raises(ValueError, match="unknown rewrite mode 'fastest'"):
        th.rewrite(y, mode="fastest")


def test_th_rewrite_returns_the_form_it_was_given_over_the_users_inputs():
    x = th.vector("x", dtype="float64")
    single = th.rewrite(th.exp(x) * 1.0)
    assert str(single.owner.op) == "Elemwise{exp}" and single.owner.inputs[0] is x
    pair = th.rewrite([x + 0.0, -(-x)])  # noqa: B002
    assert isinstance(pair, list) and pair[0] is x and pair[1] is x


def test_explain_lists_phases_counts_and_rewrites_in_order():
    x = th.vector("x", dtype="float64")
    f = th.function([x], th.log(1.0 + x) * 1.0)
    text = str(th.explain(f))
    assert th.explain(f) is f.rewrite_report
    assert f.explain().startswith(text.rstrip())
    lines = text.splitlines()
    assert lines[0].startswith("Rewrites (mode='fast_run'):")
    canonicalize = next(
        i for i, line in enumerate(lines) if line.strip().startswith("canonicalize:")
    )
    assert "nodes" in lines[canonicalize]
    assert "mul_by_one" in text and "log1p" in text and "x1" in text
    assert text.index("mul_by_one") < text.index("log1p")


def test_database_requires_unique_names_and_a_phase_tag():
    db = RewriteDatabase()
    rewrite = PatternRewriter((SIN, "x"), (COS, "x"), name="r")
    db.register(rewrite, "canonicalize")
    with pytest.raises(ValueError, match="already registered"):
        db.register(rewrite, "stabilize")
    with pytest.raises(ValueError, match="name no phase"):
        db.register(PatternRewriter((COS, "x"), (SIN, "x"), name="s"), "mystery")


def test_a_private_database_runs_only_its_own_rewrites():
    db = RewriteDatabase()
    db.register(PatternRewriter((SIN, "x"), (COS, "x"), name="sin_to_cos"), "canonicalize")
    x = th.vector("x", dtype="float64")
    fgraph = FunctionGraph([x], [th.sin(x) * 1.0])
    report = RewriteReport("custom")
    run_phases(fgraph, ["canonicalize"], report, db=db, verify=True)
    assert report.fired == {"sin_to_cos": 1}

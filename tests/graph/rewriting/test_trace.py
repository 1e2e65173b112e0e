"""Traces through rewriting: a node that a rewrite made (a fused Composite, a Gemm, a stable
logistic form, an inplace variant) names, in its run-time errors, the lines where the user
wrote the expressions it computes, never the line of the ``th.function`` call."""

import inspect

import numpy as np
import pytest

import theanine as th
from theanine.graph.basic import apply_nodes


def _lines_of(function) -> set[str]:
    source, first = inspect.getsourcelines(function)
    return {f"{__file__}:{first + k}" for k in range(len(source))}


def _chain(x, y):
    a = th.exp(x) * 2.0
    b = a + y
    return th.tanh(b) * 3.0


def _affine(x, w, b):
    return x @ w + b


def _line(function, offset: int) -> str:
    """``file:line`` of the line ``offset`` lines below ``function``'s ``def``."""
    return f"{__file__}:{inspect.getsourcelines(function)[1] + offset}"


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_fused_chain_names_the_lines_of_its_expressions(backend):
    x, y = th.vector("x"), th.vector("y")
    f = th.function([x, y], _chain(x, y), backend=backend)
    call_line = f"{__file__}:{inspect.currentframe().f_lineno - 1}"
    (node,) = apply_nodes(f.optimized_outputs)
    assert "Composite" in str(node.op)
    with pytest.raises(ValueError, match="do not match on dimension 0") as caught:
        f(np.ones(3, "float32"), np.ones(4, "float32"))
    expression_lines = ", ".join(_line(_chain, k) for k in (1, 2, 3))
    assert f"created at {expression_lines}]" in str(caught.value)
    assert call_line not in str(caught.value)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_gemm_names_the_line_of_the_affine_map(backend):
    x, w, b = th.matrix("x"), th.matrix("w"), th.vector("b")
    f = th.function([x, w, b], _affine(x, w, b), backend=backend)
    call_line = f"{__file__}:{inspect.currentframe().f_lineno - 1}"
    assert "Gemm" in str(f.optimized_outputs[0].owner.op)
    with pytest.raises(ValueError, match="mismatch") as caught:
        f(np.ones((2, 3), "float32"), np.ones((4, 5), "float32"), np.ones(5, "float32"))
    assert f"created at {_line(_affine, 1)}]" in str(caught.value)
    assert call_line not in str(caught.value)


def _model():
    """A training step that many rewrites touch: logistic stabilization, softmax crossentropy,
    Gemm, shape folding, constant folding, fusion and (through the updates) inplace."""
    x, labels = th.matrix("x", "float64"), th.vector("labels", "int64")
    w1 = th.shared(np.full((3, 4), 0.1), name="w1")
    w2 = th.shared(np.full((4, 2), 0.1), name="w2")
    hidden = 1 / (1 + th.exp(-(x @ w1)))
    logits = hidden.reshape(x.shape[0], -1) @ w2 + np.float64(0.5) * 2.0
    loss = th.mean(th.sparse_categorical_crossentropy(labels, th.softmax(logits)))
    loss = loss + 1e-3 * th.sum(th.log(1 + th.exp(w1)))
    grads = th.grad(loss, [w1, w2])
    return [x, labels], loss, [(w, w - 0.1 * g) for w, g in zip([w1, w2], grads, strict=True)]


def test_every_node_of_an_optimized_training_step_names_only_the_user_s_lines():
    inputs, loss, updates = _model()
    f = th.function(inputs, loss, updates=updates)
    call_line = f"{__file__}:{inspect.currentframe().f_lineno - 1}"
    fired = f.rewrite_report.fired
    for rewrite in ("logistic_product", "crossentropy_of_softmax", "matmul_plus_to_gemm", "elemwise_fusion",
                    "constant_folding", "gemm_inplace"):
        assert rewrite in fired
    allowed = _lines_of(_model)
    nodes = apply_nodes(f.optimized_outputs)
    assert nodes
    for node in nodes:
        assert node.trace and set(node.trace) <= allowed, (node, node.trace)
        assert call_line not in node.source


def _twice(x):
    first = th.exp(x) * 2.0
    second = th.exp(x) * 2.0
    return first + second


def test_a_node_merged_with_its_twin_names_both_lines():
    x = th.vector("x", "float64")
    (out,) = th.rewrite([_twice(x)], mode="fast_compile")
    exps = [node for node in apply_nodes([out]) if str(node.op) == "Elemwise{exp}"]
    assert len(exps) == 1
    assert exps[0].trace == (_line(_twice, 1), _line(_twice, 2))

"""Structure of graph/: module-level imports in a load order, and one implementation of the
gradient helpers the ops share (graph/ops/gradient_helpers.py), checked on every op that
broadcasts an operand."""

import ast
import pathlib

import numpy as np
import pytest

import theanine as th
from theanine.graph.ops import gradient_helpers
from theanine.graph.ops.blas import gemm

GRAPH = pathlib.Path(th.graph.__file__).parent


def _function_level_imports(path: pathlib.Path) -> list[str]:
    """``file:line`` of each import of a theanine module inside a function body."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("theanine"):
                    found.append(f"{path.relative_to(GRAPH)}:{inner.lineno}")
                if isinstance(inner, ast.Import) and any(a.name.startswith("theanine") for a in inner.names):
                    found.append(f"{path.relative_to(GRAPH)}:{inner.lineno}")
    return found


def test_graph_modules_import_theanine_at_module_level_only():
    found = [where for path in sorted(GRAPH.rglob("*.py")) for where in _function_level_imports(path)]
    assert found == []


def test_each_shared_helper_has_one_definition():
    names = ("sum_to_shape", "unbroadcast", "broadcast_like", "pad_rank")
    definitions = {
        name: [
            str(path.relative_to(GRAPH))
            for path in GRAPH.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == name
        ]
        for name in names
    }
    assert definitions == {
        "sum_to_shape": ["ops/gradient_helpers.py"],
        "unbroadcast": ["ops/gradient_helpers.py"],
        "broadcast_like": ["ops/gradient_helpers.py"],
        "pad_rank": ["ops/dimshuffle.py"],
    }


def test_sum_to_shape_sums_leading_and_static_one_axes():
    g = th.tensor("g", "float64", (2, 3, 4, 5))
    summed = gradient_helpers.sum_to_shape(g, (1, 4, 1))
    assert summed.type.shape == (1, 4, 1)
    value = np.arange(120.0).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(summed.eval({g: value}), value.sum(axis=(0, 1, 3)).reshape(1, 4, 1))


RNG = np.random.default_rng(3)
BROADCASTING_OPS = {
    # name: (function of the points, points): each operand is broadcast against the others
    "elemwise (3,1) * (1,4) and a rank-1 operand": (
        lambda a, b, c: a * b + c, [RNG.standard_normal((3, 1)), RNG.standard_normal((1, 4)), RNG.standard_normal(4)]
    ),
    "broadcast_to": (lambda a: th.broadcast_to(a, (2, 3, 4)) * np.arange(24.0).reshape(2, 3, 4),
                     [RNG.standard_normal((1, 4))]),
    "inc_subtensor of a broadcast value": (
        lambda x, v: th.inc_subtensor(x[1:3], v) ** 2, [RNG.standard_normal((4, 3)), RNG.standard_normal((1, 3))]
    ),
    "matmul with broadcast batch and a vector": (
        lambda a, b, v: (a @ b) @ v, [RNG.standard_normal((2, 3, 4)), RNG.standard_normal((1, 4, 5)),
                                      RNG.standard_normal(5)]
    ),
    "gemm with a broadcast addend": (
        lambda c, a, b: gemm(c, a, b, alpha=0.5, beta=2.0),
        [RNG.standard_normal((1, 5)), RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))],
    ),
    "fused crossentropy with a broadcast target": (
        lambda x, t: th.categorical_crossentropy(th.broadcast_to(t, (3, 4)), x, from_logits=True),
        [RNG.standard_normal((3, 4)), np.abs(RNG.standard_normal((1, 4)))],
    ),
}


@pytest.mark.parametrize("name", sorted(BROADCASTING_OPS))
def test_gradients_reach_broadcast_operands_with_their_shape(name, backend):
    build, points = BROADCASTING_OPS[name]
    th.verify_grad(build, points, backend=backend)

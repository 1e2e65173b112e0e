"""Running an optimized graph one node at a time, each node compiled alone by a backend.

The debugging modes (NanGuardMode, DebugMode) and the profiler need to see
every node's inputs and outputs, which a compiled program fuses away.  So
they run the same optimized graph node by node, in the order the backends
use (``execution_order``): each node is rebuilt on fresh inputs of its
input types (constants stay constants) and compiled on its own by the
function's backend -- native code under ``llvm``, the op's ``perform``
under ``numpy`` -- and an ``observe(node, inputs, outputs, seconds)``
hook sees every step (the values of all the node's inputs, constants
included).  A node is compiled the first time it runs.

Node by node, nothing is fused across nodes and every intermediate value
is materialized, so timings are per node, not those of the fused program.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.rewriting.inplace import execution_order
from theanine.runtime.backends import get_compiler

__all__ = ["NodeRunner", "Observer"]

Observer = Callable[[Apply, list, list, float], None]


@dataclass
class _Step:
    node: Apply
    inputs: list[int]  # storage slots of the node's inputs (constants have slots too)
    arguments: list[int]  # the slots of the non-constant ones: what the compiled node takes
    results: list[int]  # storage slots of its outputs
    run: Callable | None = None  # the compiled node, made on first use


class NodeRunner:
    """``run(values, observe)`` computes ``outputs`` from ``inputs`` node by node."""

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable], backend: str):
        self.backend = backend
        self._compile = get_compiler(backend)
        slots = {id(v): k for k, v in enumerate(inputs)}
        self._constants: dict[int, object] = {}
        self._steps: list[_Step] = []
        for node in execution_order(outputs, inputs):
            inputs_slots = [self._slot(var, slots) for var in node.inputs]
            arguments = [
                slot for slot, var in zip(inputs_slots, node.inputs, strict=True)
                if not isinstance(var, Constant)
            ]
            results = []
            for var in node.outputs:
                slots[id(var)] = len(slots) + len(self._constants)
                results.append(slots[id(var)])
            self._steps.append(_Step(node, inputs_slots, arguments, results))
        self._outputs = [self._slot(var, slots) for var in outputs]
        self._size = len(slots) + len(self._constants)

    def _slot(self, var: Variable, slots: dict[int, int]) -> int:
        if id(var) not in slots:
            if not isinstance(var, Constant):
                raise ValueError(f"the graph needs {var.label()}, which is not among its inputs")
            slots[id(var)] = len(slots) + len(self._constants)
            self._constants[slots[id(var)]] = var.data
        return slots[id(var)]

    @property
    def nodes(self) -> list[Apply]:
        return [step.node for step in self._steps]

    def compiled(self, node_index: int) -> Callable:
        """The compiled form of one node: a callable of its non-constant input values."""
        step = self._steps[node_index]
        if step.run is None:
            step.run = _compile_node(step.node, self._compile)
        return step.run

    def run(self, values: Sequence, observe: Observer | None = None,
            protect_inputs: bool = False) -> list:
        """The outputs for ``values``; ``observe`` sees each node. With ``protect_inputs`` every
        node runs on copies of its inputs, so ``observe`` gets the values from before the node
        even when it computes in place."""
        storage: list = [None] * self._size
        storage[: len(values)] = list(values)
        for slot, value in self._constants.items():
            storage[slot] = value
        for k, step in enumerate(self._steps):
            run = self.compiled(k)
            arguments = [storage[i] for i in step.arguments]
            if protect_inputs:
                arguments = [np.array(a, copy=True) for a in arguments]
            start = time.perf_counter()
            results = run(arguments)
            elapsed = time.perf_counter() - start
            if observe is not None:
                observe(step.node, [storage[i] for i in step.inputs], results, elapsed)
            for slot, value in zip(step.results, results, strict=True):
                storage[slot] = value
        return [storage[i] for i in self._outputs]


def _compile_node(node: Apply, compile_graph) -> Callable:
    """``node`` alone as a compiled function of the values of its non-constant inputs (constants
    stay in the graph: ops read static facts from them)."""
    inputs = [var if isinstance(var, Constant) else var.type(var.name) for var in node.inputs]
    placeholders = [var for var in inputs if not isinstance(var, Constant)]
    compiled = compile_graph(placeholders, node.op.make_node(*inputs).outputs)
    return compiled.run

"""The ``numpy`` backend: each op's reference ``perform``, node by node.

Slow but exact by definition; it is the oracle that compiled backends are
tested against and the backend to debug a graph with.
"""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph.basic import Constant, Variable
from theanine.graph.evaluate import run_node
from theanine.graph.rewriting.inplace import destroyed_inputs, execution_order
from theanine.runtime.backends import Compiled


def compile_numpy(inputs: Sequence[Variable], outputs: Sequence[Variable]):
    """A ``Compiled`` whose ``run(values) -> outputs`` evaluates the graph with NumPy.

    Nodes run in ``execution_order``; an input that a node overwrites (a
    shared variable's update) is copied first, since any later ``perform``
    may raise and a failed call must leave the input as it was.
    """
    nodes = execution_order(outputs, inputs)
    slot: dict[int, int] = {id(v): i for i, v in enumerate(inputs)}
    constants: list = []
    steps = []
    for node in nodes:
        arg_slots = []
        for var in node.inputs:
            if id(var) not in slot:
                if not isinstance(var, Constant):
                    raise ValueError(
                        f"the graph needs input {var.label()} of type {var.type} (used by {node.op} "
                        f"created at {node.source}), which is not among the function's inputs"
                    )
                slot[id(var)] = len(inputs) + len(constants)
                constants.append(var.data)
            arg_slots.append(slot[id(var)])
        out_slots = []
        for var in node.outputs:
            slot[id(var)] = len(inputs) + len(constants)
            constants.append(None)
            out_slots.append(slot[id(var)])
        steps.append((node, arg_slots, out_slots))
    for var in outputs:
        if id(var) not in slot:
            if not isinstance(var, Constant):
                raise ValueError(f"output {var.label()} does not depend on the given inputs")
            slot[id(var)] = len(inputs) + len(constants)
            constants.append(var.data)
    output_slots = [slot[id(v)] for v in outputs]
    overwritten = {slot[id(node.inputs[i])] for node in nodes for i in destroyed_inputs(node)}
    copied = sorted(overwritten & set(range(len(inputs))))

    def run(values: Sequence) -> list:
        storage = list(values) + constants
        for i in copied:
            storage[i] = storage[i].copy()
        for node, arg_slots, out_slots in steps:
            results = run_node(node, [storage[i] for i in arg_slots])
            for i, value in zip(out_slots, results, strict=False):
                storage[i] = value
        return [storage[i] for i in output_slots]

    return Compiled(run)

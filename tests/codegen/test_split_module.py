"""A module split into parts (codegen/llvm/split.py) compiles in several processes and computes
what the whole module computes: step functions, tables, the barrier's votes and the BLAS
pointers each exist once, whichever part names them."""

import ctypes
import re
import time
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

import theanine as th
from theanine.codegen.llvm import scalar, split
from theanine.codegen.llvm.printer import LLVMPrinter
from theanine.codegen.program.lowering import lower
from theanine.runtime.llvm import backend, jit

R = np.random.default_rng(3)


@pytest.fixture
def split_everything(monkeypatch, tmp_path):
    """Every module with two or more step functions splits into up to three parts, compiled afresh;
    yields the number of parts of each compiled module."""
    monkeypatch.setattr(split, "MIN_PART_INSTRUCTIONS", 1)
    monkeypatch.setattr(backend, "compile_processes", lambda: 3)
    monkeypatch.setattr(jit, "idle_cores", lambda: 3)
    counts = []
    compile_to_objects = jit.compile_to_objects

    def counting(texts, meanwhile=None):
        counts.append(len(texts))
        return compile_to_objects(texts, meanwhile)

    monkeypatch.setattr(jit, "compile_to_objects", counting)
    with th.config.context(cache_dir=str(tmp_path)):
        yield counts


def _mlp_step():
    """A two-layer training step: BLAS products, broadcasts, reductions and in-place updates."""
    x, labels = th.matrix("x", dtype="float64"), th.ivector("labels")
    rng = np.random.default_rng(2)
    w1 = th.shared(rng.standard_normal((6, 5)) * 0.5, name="w1")
    w2 = th.shared(rng.standard_normal((5, 3)) * 0.5, name="w2")
    b1 = th.shared(np.zeros(5), name="b1")
    hidden = th.relu(x @ w1 + b1)
    loss = th.sparse_categorical_crossentropy(labels, th.softmax(hidden @ w2)).mean()
    parameters = [w1, w2, b1]
    updates = [(p, p - 0.1 * g) for p, g in zip(parameters, th.grad(loss, parameters), strict=True)]
    return [x, labels], loss, updates, parameters


def _train(threads: int):
    """Losses and final parameters of three steps of ``_mlp_step`` on ``threads`` threads."""
    inputs, loss, updates, parameters = _mlp_step()
    with th.config.context(num_threads=threads):
        f = th.function(inputs, loss, updates=updates, backend="llvm")
    x, labels = np.random.default_rng(1).standard_normal((8, 6)), np.arange(8, dtype="int32") % 3
    losses = [f(x, labels) for _ in range(3)]
    return losses, [p.get_value() for p in parameters]


def test_a_split_training_step_computes_what_the_whole_module_computes(split_everything, monkeypatch):
    split_losses, split_parameters = _train(threads=2)
    assert max(split_everything) == 3
    monkeypatch.setattr(backend, "compile_processes", lambda: 1)
    with th.config.context(use_cache=False):
        whole_losses, whole_parameters = _train(threads=2)
    np.testing.assert_allclose(split_losses, whole_losses, rtol=1e-12)
    for a, b in zip(split_parameters, whole_parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_split_scan_calls_its_body_steps_across_parts(split_everything):
    """A loop step's own table names body step functions that may live in another part."""
    x, h0, W = th.tensor("x", "float64", (None, None, 3)), th.matrix("h0", dtype="float64"), th.matrix("W", "float64")
    hs, _ = th.scan(lambda x_t, h, W: th.tanh(x_t @ W + h), sequences=x, outputs_info=h0, non_sequences=W)
    values = [R.standard_normal((4, 2, 3)), R.standard_normal((2, 3)), R.standard_normal((3, 3))]
    got = th.function([x, h0, W], [hs, hs.sum()], backend="llvm")(*values)
    h, expected = values[1], []
    for t in range(4):
        h = np.tanh(values[0][t] @ values[2] + h)
        expected.append(h)
    np.testing.assert_allclose(got[0], np.stack(expected), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.sum(expected), rtol=1e-12)
    assert max(split_everything) == 3


def test_one_compile_process_keeps_the_module_whole_under_its_own_cache_key(split_everything, monkeypatch):
    monkeypatch.setattr(backend, "compile_processes", jit.compile_processes)
    inputs, loss, updates, _ = _mlp_step()
    with th.config.context(compile_processes=1):
        th.function(inputs, loss, updates=updates, backend="llvm")
    with th.config.context(compile_processes=2):
        th.function(inputs, loss, updates=updates, backend="llvm")
    assert split_everything == [1, 2]


def test_compile_processes_is_validated():
    with pytest.raises(ValueError, match="config.compile_processes must be an int >= 0"):
        with th.config.context(compile_processes=-1):
            pass


def test_a_split_entry_is_reused_from_the_cache(split_everything, monkeypatch):
    inputs, loss, updates, _ = _mlp_step()
    first = th.function(inputs, loss, backend="llvm")
    assert max(split_everything) == 3
    monkeypatch.setattr(jit, "compile_to_objects", _refuse)
    again = th.function(inputs, loss, backend="llvm")
    x, labels = np.ones((2, 6)), np.zeros(2, "int32")
    assert again(x, labels) == first(x, labels)


def _refuse(texts):
    raise AssertionError("compiled although the cache holds this module")


def _printed_parts(parts: int, small: bool = False) -> tuple[LLVMPrinter, list[str]]:
    if small:
        x = th.vector("x")
        function = th.function([x], [th.exp(x), x.sum()], backend="numpy")
    else:
        inputs, loss, updates, _ = _mlp_step()
        function = th.function(inputs, loss, updates=updates, backend="numpy")
    program = lower(function.fgraph_inputs, function.optimized_outputs, scalar.supports, shape_arithmetic=True)
    printer = LLVMPrinter(program)
    names = printer.step_function_names
    return printer, [print_part() for print_part in split.split_module(printer.module, names, parts)]


def _definitions(text: str) -> set[str]:
    functions = re.findall(r'^define (?!internal)[^@]*@"([^"]+)"', text, re.M)
    variables = re.findall(r'^@"([^"]+)" = (?!internal|external)', text, re.M)
    return set(functions) | set(variables)


def test_every_shared_definition_lives_in_exactly_one_part(monkeypatch):
    monkeypatch.setattr(split, "MIN_PART_INSTRUCTIONS", 1)
    printer, parts = _printed_parts(3)
    assert len(parts) == 3
    definitions = [_definitions(text) for text in parts]
    for name in printer.step_function_names + ["segment_0", "theanine_votes", "theanine_dgemm"]:
        assert sum(name in d for d in definitions) == 1, name
    for text in parts:  # each part is a valid module on its own
        llvm.parse_assembly(text).verify()


def test_a_small_module_stays_whole():
    printer, parts = _printed_parts(4, small=True)
    assert len(printer.step_function_names) == 2
    assert parts == [str(printer.module)]


def test_joined_objects_come_apart_and_a_damaged_table_is_refused():
    objects = [b"\x7fELF first", b"\x7fELF second one"]
    assert jit.split_objects(jit.join_objects(objects)) == objects
    assert jit.join_objects(objects[:1]) == objects[0]
    with pytest.raises(jit.InvalidObject, match="add up to"):
        jit.split_objects(jit.join_objects(objects)[:-1])
    with pytest.raises(jit.InvalidObject, match="truncated"):
        jit.split_objects(jit.PARTS_MAGIC + b"\x09\x00\x00\x00")


@pytest.mark.parametrize("idle", [1, 2, 5])
def test_parts_come_back_in_order_however_many_children_compile_them(monkeypatch, idle):
    """With fewer idle cores than parts, a child compiles several parts in turn."""
    monkeypatch.setattr(jit, "idle_cores", lambda: idle)
    texts = [f"define i64 @value_{k}() {{\n  ret i64 {k}\n}}\n" for k in range(4)]
    objects = jit.compile_to_objects(texts)
    for k, code in enumerate(objects):
        module = jit.NativeModule(code)
        assert ctypes.CFUNCTYPE(ctypes.c_int64)(module.function_address(f"value_{k}"))() == k


def _children() -> set[str]:
    return {pid for path in Path("/proc/self/task").glob("*/children") for pid in path.read_text().split()}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="lists child processes through Linux's /proc")
def test_a_failure_in_one_part_is_reported_and_every_child_is_reaped():
    """Children that answered are reaped by threads of their own: wait (a while) for them to go."""
    good = "define i32 @answer() {\n  ret i32 42\n}\n"
    before = _children()
    with pytest.raises(RuntimeError, match="(?s)LLVM failed to compile the module: .*expected type"):
        jit.compile_to_objects([good, "define i32 @broken( {", good])
    deadline = time.monotonic() + 30  # (children of earlier tests may still be going meanwhile)
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _children() - before


def test_parts_are_balanced_by_the_instructions_llvm_optimizes(monkeypatch):
    """An optnone function (glue around a library call) counts at ``UNOPTIMIZED_SHARE`` of its
    instructions: of two large unoptimized functions and an optimized one a third their size, the
    optimized one is the most work, and goes to a part of its own."""
    monkeypatch.setattr(split, "MIN_PART_INSTRUCTIONS", 1)
    module = ir.Module(name="balance")
    signature = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
    sizes = {"glue_a": 300, "glue_b": 300, "loops": 100}
    for name, size in sizes.items():
        function = ir.Function(module, signature, name)
        function.attributes.add("noinline")
        if name.startswith("glue"):
            function.attributes.add("optnone")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        value = function.args[0]
        for _ in range(size - 1):
            value = builder.add(value, ir.Constant(ir.IntType(64), 1))
        builder.ret(value)
    texts = [print_part() for print_part in split.split_module(module, list(sizes), 2)]
    holders = {name: [k for k, text in enumerate(texts) if re.search(rf'^define [^@]*@"{name}"', text, re.M)]
               for name in sizes}
    assert holders == {"glue_a": [1], "glue_b": [1], "loops": [0]}

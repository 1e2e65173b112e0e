"""Every kernel the CUDA printer emits compiles with nvcc, for sm_80 and sm_90 (no GPU needed).

The sources of the whole op table (``tests/op_table.py``) and of the MLP,
CNN and LSTM training graphs are each concatenated into one translation
unit (every program's kernels in a namespace of their own after one
prelude), and nvcc compiles it to PTX for each architecture: one nvcc run
per file and architecture keeps the sweep to a few runs.  Skipped, with
the reason, where nvcc is absent.
"""

import subprocess

import cuda_graphs
import numpy as np
import pytest

from op_table import all_cases
from theanine.codegen.cuda.printer import PRELUDE, defines
from theanine.runtime.cuda.build import nvcc_path

NVCC = nvcc_path()
ARCHS = ("sm_80", "sm_90")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")


def _translation_unit(printers) -> str:
    rank = max(p.rank for p in printers)
    parts = [defines(rank), PRELUDE]
    parts += [f"namespace program{k} {{\n{p.kernel_source}\n}}" for k, p in enumerate(printers)]
    return "\n".join(parts)


def _compile(source: str, tmp_path, arch: str, optimize: bool = True) -> None:
    """nvcc to PTX; ``optimize=False`` skips NVVM's optimizer (-Xcicc -O0), which triples the speed
    of the op table's large file while still type-checking and generating code for every kernel."""
    path = tmp_path / "sweep.cu"
    path.write_text(source)
    flags = [] if optimize else ["-Xcicc", "-O0"]
    result = subprocess.run([NVCC, f"-arch={arch}", "--ptx", "-std=c++17", "-w", *flags,
                             "-o", str(tmp_path / "sweep.ptx"), str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr[-6000:]
    ptx = (tmp_path / "sweep.ptx").read_text()
    assert ".entry" in ptx


def _symbolic(case):
    import theanine as th

    return [th.tensor(f"in{i}", np.asarray(a).dtype, np.shape(a) if case.static_shapes else (None,) * np.ndim(a))
            for i, a in enumerate(case.inputs)]


@pytest.fixture(scope="module")
def op_table_source() -> str:
    printers = []
    for case in all_cases():
        variables = _symbolic(case)
        out = case.build(*variables)
        printers.append(cuda_graphs.printed(variables, list(out) if isinstance(out, (list, tuple)) else [out]))
    assert sum(len(p.kernels) for p in printers) > len(printers)
    return _translation_unit(printers)


@pytest.mark.parametrize("arch", ARCHS)
def test_op_table_kernels_compile(op_table_source, tmp_path, arch):
    _compile(op_table_source, tmp_path, arch, optimize=False)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("graph", sorted(cuda_graphs.GRAPHS))
def test_training_graph_kernels_compile(graph, arch, tmp_path):
    inputs, outputs, updates, _ = cuda_graphs.GRAPHS[graph](np.random.default_rng(0))
    printer = cuda_graphs.printed(inputs, outputs, updates)
    assert printer.kernels
    _compile(printer.source, tmp_path, arch)


@pytest.mark.parametrize("arch", ARCHS)
def test_loop_kernels_compile(arch, tmp_path):
    """Nested and while loops: the body kernels and the loops' counter kernels (start, next, ran)."""
    printers = [cuda_graphs.printed(inputs, outputs) for inputs, outputs, _ in cuda_graphs.loops().values()]
    names = [k.name for p in printers for k in p.kernels]
    assert any(name.endswith("_next") for name in names) and any(name.endswith("_ran") for name in names)
    _compile(_translation_unit(printers), tmp_path, arch)

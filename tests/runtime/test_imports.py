"""Import cost and layering: what loads when, and which way imports run.

``import theanine`` loads no backend (llvmlite, the code generator) and no
networkx; a part imports only parts to its right (frontend -> runtime ->
codegen -> graph), checked on the source of every module; every package
folder is installed (setup.cfg lists it).
"""

import ast
import configparser
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["graph", "codegen", "runtime", "frontend"]


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("statement", ["import theanine.graph", "import theanine.graph.basic",
                                       "import theanine.graph.ops.math", "import theanine"])
def test_importing_loads_no_backend_and_no_networkx(statement):
    loaded = _loaded_after(statement)
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("llvmlite", "networkx", "scipy")
                   or m.startswith("theanine.codegen") or m.startswith("theanine.runtime.llvm")
                   or m.startswith("theanine.runtime.cpython"))
    assert heavy == []


def test_compiling_loads_the_backend_then():
    loaded = _loaded_after("import theanine as th\nx = th.vector('x')\nth.function([x], x + 1)")
    assert "llvmlite.binding" in loaded and "theanine.codegen.llvm.printer" in loaded


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_no_import_runs_leftwards():
    wrong = []
    for rank, part in enumerate(PARTS):
        for path in sorted((ROOT / part).rglob("*.py")):
            for line, module in _imports(path):
                names = module.split(".")
                if names[0] == "theanine" and len(names) > 1 and names[1] in PARTS:
                    if PARTS.index(names[1]) > rank:
                        wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def test_every_package_folder_is_installed():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    mapped = {
        line.split("=")[1].strip() for line in setup["options"]["package_dir"].strip().splitlines()
    }
    folders = {
        path.parent.relative_to(ROOT).as_posix() for part in PARTS for path in (ROOT / part).rglob("__init__.py")
    }
    assert folders - mapped == set()
    listed = set(setup["options"]["packages"].split())
    assert len(listed) == len(mapped)

"""Every example runs: ``python -m theanine.frontend.examples.<name> --quick`` exits 0.

The examples are found by listing the package, so a new example joins this
test by existing (and must accept ``--quick``, a run of a few seconds).
The main job, ``python -m theanine``, has its own test in test_main.py.
"""

import importlib.util
import pkgutil
import subprocess
import sys

import pytest

from theanine.frontend import examples

EXAMPLES = sorted(module.name for module in pkgutil.iter_modules(examples.__path__))
NEEDS = {"cartpole": "gymnasium"}
"""Examples that need a package of the ``examples`` extra."""


def test_the_gallery_lists_the_known_examples():
    assert {"gan", "multi_io", "cartpole"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_quick(name, tmp_path):
    needed = NEEDS.get(name)
    if needed and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{name} needs {needed} (pip install 'theanine[examples]')")
    result = subprocess.run(
        [sys.executable, "-m", f"theanine.frontend.examples.{name}", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"{name} --quick failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.stdout.strip(), f"{name} --quick printed nothing"

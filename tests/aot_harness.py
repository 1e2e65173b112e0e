"""Building and running C programs against a theanine native library (tests/runtime/test_aot.py)."""

from __future__ import annotations

import os
import subprocess

import numpy as np

DRIVER = os.path.join(os.path.dirname(__file__), "aot_driver.c")


def build(library, source: str = DRIVER, output: str | None = None) -> str:
    """Compile ``source`` against ``library``'s header and link it with the library (rpath: its folder)."""
    folder = os.path.dirname(os.path.abspath(library.shared_object))
    output = output or os.path.join(folder, f"{library.name}_{os.path.basename(source)[:-2]}")
    subprocess.run(["gcc", "-O1", "-std=c11", f"-DLIB={library.name}", f"-DLIB_UPPER={library.name.upper()}",
                    "-include", library.header, f"-I{folder}", source, "-o", output,
                    f"-L{folder}", f"-l:{library.name}.so", f"-Wl,-rpath,{folder}"],
                   check=True, capture_output=True, text=True)
    return output


def run(executable: str, inputs: list[np.ndarray], out_dtypes: list[str], threads: int = 0,
        folder: str | None = None) -> tuple[int, list[np.ndarray], str]:
    """Run the driver on ``inputs``: (exit code, outputs, what it printed)."""
    folder = folder or os.path.dirname(executable)
    args = [executable, str(threads)]
    for k, value in enumerate(inputs):
        path = os.path.join(folder, f"in{k}.bin")
        np.ascontiguousarray(value).tofile(path)
        args += [path, ",".join(map(str, value.shape)) or "-"]
    outs = [os.path.join(folder, f"out{j}.bin") for j in range(len(out_dtypes))]
    done = subprocess.run(args + ["--"] + outs, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return done.returncode, [], done.stdout + done.stderr
    shapes = [tuple(int(d) for d in line.split(":")[1].split()) for line in done.stdout.splitlines()]
    results = [np.fromfile(path, dtype=dtype).reshape(shape) for path, dtype, shape in zip(outs, out_dtypes, shapes,
                                                                                          strict=True)]
    return 0, results, done.stdout

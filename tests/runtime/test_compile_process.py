"""Native code is optimized in a short-lived child process: memory stays flat, LLVM crashes become errors."""

import os
import subprocess
import sys
import textwrap

import pytest

from theanine.runtime.llvm import forked, jit

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="compiles in-process where the OS cannot fork")


def _print_and_abort(_):
    os.write(2, b"Assertion `x' failed.\n")
    os.abort()


def test_a_crash_while_compiling_is_an_error_not_the_end_of_the_process():
    """The error names the signal and ends with what the child printed (LLVM's assertion)."""
    with pytest.raises(RuntimeError, match="died \\(signal 6\\): Assertion `x' failed."):
        forked.in_children(_print_and_abort, [""], 1)


def test_an_llvm_error_in_the_child_is_reported_with_its_message():
    with pytest.raises(RuntimeError, match="(?s)LLVM failed to compile the module: .*expected type"):
        jit.compile_to_object("define i32 @broken( {")


def test_the_child_returns_the_object_bytes():
    ir = "define double @square(double %x) {\n  %y = fmul double %x, %x\n  ret double %y\n}\n"
    module = jit.NativeModule(jit.compile_to_object(ir))
    assert module.function_address("square") != 0


def test_memory_stays_flat_over_many_compiles_of_distinct_functions():
    """220 distinct functions compiled with an empty cache: over the last 120 the process grows
    by less than 2 MiB (it grew by ~55 KiB per compile, 6.5 MiB here, when LLVM ran in-process;
    the first ~100 compiles fill bounded caches)."""
    script = textwrap.dedent("""
        import gc, os
        import numpy as np
        import theanine as th

        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        x = th.vector("x")
        with th.config.context(use_cache=False):
            for i in range(220):
                f = th.function([x], th.exp(x) * (1.0 + i) + th.tanh(x))
                f(np.ones(4, "float32"))
                del f
                if i == 99:
                    gc.collect()
                    start = rss()
        gc.collect()
        print((rss() - start) / 2**20)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(result.stdout) < 2.0

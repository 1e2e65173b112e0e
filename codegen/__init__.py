"""theanine.codegen: from an optimized graph to native code, in rooms that show the pipeline.

- ``program/``: the backend-neutral part.  ``kernel_ir`` is the kernel
  program (buffers with symbolic shapes, fused elementwise and reduction
  kernels, gathers, scatters, sorts, GEMM calls, host calls);
  ``expressions`` and ``shape_exprs`` build its scalar and shape
  expressions; ``lowering`` turns a graph into a program through the
  per-op rules of ``rules/``; ``fallible`` says which steps can fail.
- ``llvm/``: the LLVM printer of that program (``printer``, the scalar op
  table ``scalar``, loops, GEMM, indexed kernels, Philox, the segment ABI
  ``buffer_table``), with its vectorized math library in ``llvm/vmath/``.
- ``cuda/`` is where the CUDA C printer of the same program goes.

Nothing here imports the runtime: the runtime loads a printer, compiles
what it prints and runs it.
"""

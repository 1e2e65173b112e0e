"""The LLVM backend: lower, print, optimize, cache and run a compiled function (``backend.compile_llvm``)."""

"""The LLVM backend: lower, print, optimize, cache and run a compiled function (``backend.compile_llvm``).

``jit`` optimizes and emits object code (in children, ``forked``, one per part of a split
module) and loads it; ``cache`` keeps the objects on disk.
"""

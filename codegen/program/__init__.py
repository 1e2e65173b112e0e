"""The backend-neutral kernel program, its expression helpers and the rules that lower graphs to it.

Every printer (LLVM now, CUDA next) prints the same ``Program``: a new op
needs its lowering rule once, here.
"""

"""theanine.codegen: lowering of optimized graphs to kernels and native code."""

"""The LLVM printer: a kernel program becomes one LLVM module for the host CPU.

``printer`` emits the entry functions, ``scalar`` the table of scalar ops,
``vmath/`` the vectorized math functions, ``gemm`` / ``indexed`` /
``philox`` / ``guarded`` their kernel kinds, ``buffer_table`` the entry ABI;
``split`` spreads a printed module's step functions over parts that compile
side by side.
"""

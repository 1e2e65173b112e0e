"""theanine.graph: types, variables, ops, gradients, rewrites and printing.

Imports nothing from codegen, runtime or frontend.
"""

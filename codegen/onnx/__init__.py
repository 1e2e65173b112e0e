"""ONNX: the printer (export, a graph -> ``onnx.ModelProto``) and the reader (import, a model -> a graph).

The two rooms DESIGN.md names beside the LLVM printer.  ``export.py`` walks
a symbolic graph and asks the table in ``export_rules.py`` for each op's
ONNX nodes; ``reader.py`` walks an ONNX graph and asks the table in
``import_rules.py`` for each node's theanine expression.  The ``onnx``
package is imported by these modules only, so ``import theanine`` never
loads it (the public entry points are ``th.onnx.export`` and
``th.onnx.load``, frontend/package/onnx.py).
"""

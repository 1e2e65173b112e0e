"""theanine.graph: types, variables, ops, gradients, rewrites and printing.

Imports nothing from codegen, runtime or frontend.

Load order.  Importing any module of this package first runs this file,
which loads the op families (``ops``, whose first modules pull in the core:
type, basic, op, tensor) and the reference interpreter (``evaluate``), in
dependency order.  A module imports names from the modules loaded before
it.  The few rules that call forward, into a module loaded after theirs --
the operators of variables (``x + y`` is ``ops.math.add``), ``eval``, the
gradient of an elementary op built from later ones (``DimShuffle``'s uses
``ops.reduce.sum``) -- reach it through the module object (``ops``,
``graph``), looked up when the rule is called, after loading has finished.
"""

from theanine.graph import evaluate, ops, pickling, pretty_printing, typed_constructors  # noqa: F401  (load order)

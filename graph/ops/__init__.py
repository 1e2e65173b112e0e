"""The op families, loaded in dependency order.

Each module imports names from the modules above it in this list.  Where an
op's gradient or helper builds an op from a module further down (the
gradient of ``DimShuffle`` sums with ``reduce``; ``Elemwise``'s gradient
sums back to its operands' shapes with ``gradient_helpers``), the module
reaches it through this package (``ops.reduce.sum``) when the rule runs,
after every module here has loaded.
"""

from theanine.graph.ops import (  # noqa: F401  (the load order; see above)
    disconnected,
    dimshuffle,
    elemwise,
    math,
    reduce,
    gradient_helpers,
    reduce_grad,
    subtensor,
    shape_values,
    reshape,
    broadcast,
    join,
    creation,
    shape_compositions,
    shape,
    linalg,
    blas,
    nnet,
    nnet_fused,
    conv_geometry,
    conv_numpy,
    conv,
    conv_functions,
    pool,
    pool_functions,
    composite,
    opfromgraph,
    random,
    sorting,
    numpy_like,
    inner_function,
    scan_op,
    scan_grad,
    scan,
    ifelse,
    strings,
)

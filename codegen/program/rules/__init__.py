"""The lowering rules, one module per family of ops; importing this package registers them all.

elementwise (Elemwise, Reduce, DimShuffle, ShapeI), nnet (softmax and the
crossentropies), views (shapes, slicing, joins, ranges), linalg (products,
BLAS calls), indexed (arg-reductions, cumulative scans, gathers, scatters,
sorts), random (Philox draws), conv (convolutions as im2col and GEMM),
pool (max pooling and its gradient), loops (Scan as a native loop), branches
(IfElse as a native branch) and collectives (MPI allreduce and
broadcast as library calls); windows holds the window reads that conv and
pool share.
"""

from theanine.codegen.program.rules import (  # noqa: F401
    branches,
    collectives,
    conv,
    elementwise,
    indexed,
    linalg,
    loops,
    nnet,
    pool,
    random,
    views,
)

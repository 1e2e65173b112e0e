"""The graph part of ``th``'s namespace (no runtime), for the import rules: ``from ... import graph_api as th``.

codegen may not import the runtime or the root package (DESIGN.md's layering),
so the rules reach the tensor functions through this module instead.
"""

from theanine.graph.basic import Constant, Variable  # noqa: F401
from theanine.graph.ops.conv_functions import *  # noqa: F403
from theanine.graph.ops.counting import nonzero  # noqa: F401
from theanine.graph.ops.creation import *  # noqa: F403
from theanine.graph.ops.decompositions import det  # noqa: F401
from theanine.graph.ops.ifelse import ifelse  # noqa: F401
from theanine.graph.ops.linalg import *  # noqa: F403
from theanine.graph.ops.math import *  # noqa: F403
from theanine.graph.ops.nnet import *  # noqa: F403
from theanine.graph.ops.numpy_like import *  # noqa: F403
from theanine.graph.ops.pool_functions import *  # noqa: F403
from theanine.graph.ops.reduce import *  # noqa: F403
from theanine.graph.ops.scan import scan, until  # noqa: F401
from theanine.graph.ops.shape import *  # noqa: F403
from theanine.graph.ops.subtensor import *  # noqa: F403
from theanine.graph.shared import *  # noqa: F403
from theanine.graph.tensor import *  # noqa: F403
from theanine.graph.typed_constructors import *  # noqa: F403

"""Shape ops and functions: one import place for the family, defined in sibling modules.

Few op classes, many functions.  Every backend lowers each op class, so only
``DimShuffle``, ``Shape``, ``ShapeI``, ``Reshape``, ``Join``, ``Split`` and
``BroadcastTo`` are ops; ``flatten``, ``squeeze``, ``stack``, ``repeat``,
``tile`` and ``pad`` are compositions of them and take their gradients from
them.  Where each lives:

- ``dimshuffle.py``: ``DimShuffle``, ``transpose``, ``expand_dims``;
- ``shape_values.py``: ``Shape``, ``ShapeI``, ``shape``, ``shape_i``, ``size``
  and what is known of a shape when the graph is built (shapes are values:
  int64 vectors that may be computed at run time);
- ``reshape.py``: ``Reshape``, ``reshape``, ``flatten``, ``squeeze``;
- ``join.py``: ``Join``, ``Split``, ``concatenate``, ``stack``, ``split``;
- ``broadcast.py``: ``BroadcastTo``, ``broadcast_to`` (static broadcasting);
- ``shape_compositions.py``: ``repeat``, ``tile``, ``pad``, ``specify_shape``.

Code outside ``graph/ops`` (rewrites, codegen, users) imports the family from
here; the op modules import from the defining modules, which load before them.
"""

from theanine.graph.ops.broadcast import BroadcastTo, broadcast_to
from theanine.graph.ops.dimshuffle import DimShuffle, dimshuffle, expand_dims, transpose
from theanine.graph.ops.join import Join, Split, concatenate, split, stack
from theanine.graph.ops.reshape import Reshape, flatten, reshape, squeeze
from theanine.graph.ops.shape_compositions import pad, repeat, specify_shape, tile
from theanine.graph.ops.shape_values import Shape, ShapeI, shape, shape_i, size
from theanine.graph.ops.shape_values import as_shape_vector as as_shape_vector
from theanine.graph.ops.shape_values import shape_entries as shape_entries
from theanine.graph.ops.shape_values import shape_source as shape_source
from theanine.graph.ops.shape_values import sizes_or_shape as sizes_or_shape
from theanine.graph.ops.shape_values import static_entries as static_entries
from theanine.graph.ops.shape_values import static_int as static_int
from theanine.graph.ops.shape_values import static_value as static_value

__all__ = [
    "DimShuffle", "Shape", "ShapeI", "Reshape", "Join", "Split", "BroadcastTo", "dimshuffle",
    "transpose", "expand_dims", "shape", "shape_i", "size", "reshape", "flatten", "squeeze",
    "concatenate", "stack", "split", "broadcast_to", "repeat", "tile", "pad", "specify_shape",
]

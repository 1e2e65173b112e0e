"""``th.printing``: Theano's ``theano.printing`` names in one place.

``th.printing.pp`` (and its Theano alias ``pprint``), ``debugprint``,
``pydotprint`` and the ``Print`` op are the ones ``import theanine as th``
already gives (``th.pp``, ``th.debugprint``, ...); this module only
gathers them under Theano's module name, so tutorial code such as
``th.printing.debugprint(f)`` reads as it did.
"""

from theanine.graph.ops.print_op import Print
from theanine.graph.pretty_printing import pp
from theanine.graph.printing import debugprint, pydotprint, render, to_dot

pprint = pp
"""Theano's name for ``pp``."""

__all__ = ["Print", "debugprint", "pp", "pprint", "pydotprint", "render", "to_dot"]

"""theanine.runtime: compile graphs with a backend and call them.

Importing it adds the runtime's settings to ``th.config`` (``settings``);
a backend itself (llvmlite, the code generator) loads the first time a
function is compiled for it (``backends``).  Rooms: ``llvm/`` (the LLVM
backend: compile, load, run, the disk cache), ``cpython/`` (the glue
between CPython objects and native code: binary layout facts and the
native fast call path).
"""

from theanine.runtime import settings

"""theanine.frontend.layers: the layer classes and ``Input``.

Every module of this package that defines ``__all__`` is imported here and
its names re-exported, in sorted module order, so a new family of layers
(convolutional, recurrent, ...) is added by writing one new file; neither
this file nor the models change.
"""

import importlib
import pkgutil
from pathlib import Path

from theanine.frontend.layers.base import *  # noqa: F403
from theanine.frontend.layers.base import __all__ as _base_names


def _export_layer_modules() -> list[str]:
    """Import each sibling module and copy its public names into this package."""
    names = list(_base_names)
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            globals()[name] = getattr(module, name)
            names.append(name)
    return names


__all__ = _export_layer_modules()

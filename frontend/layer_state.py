"""Keras 3's saving hooks of a layer: ``save_own_variables``/``load_own_variables`` and
``save_assets``/``load_assets``, in a theanine model file.

The weights of every layer are saved by the model file itself (``saving.py``,
``weights/``).  A layer whose class overrides a hook gets it called too, as
Keras does, so it can keep state that is not a weight (a vocabulary, a
lookup table, a variable it fills itself):

- ``save_own_variables(store)`` fills a dict of arrays; the arrays go to
  ``layer_state_<k>/<i>.npy`` and their keys to ``model.json``
  (``"layer_state": {k: [keys]}``); at load, ``load_own_variables(store)``
  gets the same dict back (after the weights were set);
- ``save_assets(dir_path)`` writes files into a fresh directory; they go to
  ``layer_assets_<k>/<relative path>``; at load they are extracted into a
  fresh directory (names are checked: no absolute paths, no ``..``) and
  ``load_assets(dir_path)`` reads them.

``k`` numbers the model's layers in one depth-first walk (``walk``), the
same in the saved model and in the one rebuilt from its config.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import zipfile
from collections.abc import Callable

import numpy as np

from theanine.frontend.archive import Archive
from theanine.frontend.layers.base import Layer

STATE_FOLDER = "layer_state_{}"
ASSETS_FOLDER = "layer_assets_{}/"


def walk(model) -> list[Layer]:
    """The model and every layer inside it, depth first, each once."""
    order: list[Layer] = []
    seen: set[int] = set()
    pending = [model]
    while pending:
        layer = pending.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        order.append(layer)
        pending[0:0] = layer._sublayers()
    return order


def overrides(layer: Layer, hook: str) -> bool:
    """Whether ``layer``'s class defines its own ``hook`` (Layer's default does nothing extra)."""
    return getattr(type(layer), hook) is not getattr(Layer, hook)


def write(archive: zipfile.ZipFile, model, write_array: Callable) -> dict:
    """Call the hooks of the layers that override them; write what they give; return the keys
    of each layer's store, by layer number, for ``model.json``."""
    keys: dict[str, list[str]] = {}
    for k, layer in enumerate(walk(model)):
        if overrides(layer, "save_own_variables"):
            store: dict = {}
            layer.save_own_variables(store)
            keys[str(k)] = [str(key) for key in store]
            for i, value in enumerate(store.values()):
                write_array(archive, f"{STATE_FOLDER.format(k)}/{i:05d}.npy", np.asarray(value))
        if overrides(layer, "save_assets"):
            with tempfile.TemporaryDirectory() as directory:
                layer.save_assets(directory)
                for root, _, files in os.walk(directory):
                    for name in sorted(files):
                        full = os.path.join(root, name)
                        relative = os.path.relpath(full, directory).replace(os.sep, "/")
                        archive.write(full, ASSETS_FOLDER.format(k) + relative)
    return keys


def read(archive: Archive, model, keys: dict) -> None:
    """Give each overriding layer of the rebuilt ``model`` its store and its assets back."""
    layers = walk(model)
    for k, layer in enumerate(layers):
        if overrides(layer, "load_own_variables"):
            names = keys.get(str(k), [])
            arrays = archive.arrays(STATE_FOLDER.format(k))
            if len(arrays) != len(names):
                raise ValueError(
                    f"{archive.path!r} is corrupt: layer {layer.name!r} saved {len(names)} state "
                    f"array(s) but the file holds {len(arrays)}"
                )
            layer.load_own_variables(dict(zip(names, arrays, strict=True)))
        if overrides(layer, "load_assets"):
            prefix = ASSETS_FOLDER.format(k)
            with tempfile.TemporaryDirectory() as directory:
                for entry in (name for name in archive.entries if name.startswith(prefix)):
                    relative = entry[len(prefix):]
                    normal = posixpath.normpath(relative)
                    if not relative or normal.startswith(("/", "../")) or normal == ".." or "\\" in relative:
                        raise ValueError(f"{archive.path!r} is corrupt: the asset entry {entry!r} is not "
                                         "a relative path inside the layer's folder")
                    target = os.path.join(directory, *normal.split("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as handle:
                        handle.write(archive.read(entry))
                layer.load_assets(directory)

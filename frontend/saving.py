"""Saving and loading models: one zip file, JSON plus ``.npy`` arrays, no pickle.

A ``.theanine`` model file is a zip archive holding

- ``metadata.json``: ``{"format": "theanine.model", "format_version": 1, ...}``;
- ``model.json``: the architecture (``{"class_name", "config"}`` of the
  model, layers nested inside), how a subclassed model was built (input
  shapes and dtypes) and the compile arguments (optimizer config, losses,
  metrics, loss weights) when they are serializable;
- ``weights/<k>.npy``: the model weights in ``model.weights`` order, with
  their names and shapes listed in ``model.json``;
- ``optimizer/<k>.npy``: the optimizer state (``optimizer.variables()``);
- ``random/<k>.npy``: the states of the layers' random streams (Dropout), so
  training resumes with the same masks;
- what layers overriding Keras' saving hooks (``save_own_variables``,
  ``save_assets``) keep: ``layer_state.json``, ``layer_state_<k>/`` and
  ``layer_assets_<k>/`` (``layer_state.py``).

Loading reads JSON and ``.npy`` arrays (no pickles) through
``archive.Archive``, which checks every declared size before inflating
anything (a decompression-bomb guard); rebuilding the model from its config
may create no more weight bytes than the file holds
(``layers.base.weight_budget``).  Classes and functions are found by name
among the built-in ones, the registered ones (``register_serializable``)
or the caller's ``custom_objects``.  Every problem with a file (not a zip,
truncated, a corrupt member, a missing entry, an unknown class, a size
beyond the limits) raises ``ValueError`` naming the file.  Writes are atomic (``atomic.atomic_write``): the
archive is written to a temporary file in the same directory, flushed to
disk, then renamed over the target, so a failure or a kill midway leaves
the previous file intact, and the temporaries of killed writers are
deleted by the next save to the same path.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping

import numpy as np

import theanine as th
from theanine.frontend import layer_state, optimizers
from theanine.frontend import losses as losses_module
from theanine.frontend import metrics as metrics_module
from theanine.frontend.archive import Archive, open_archive
from theanine.frontend.atomic import atomic_write
from theanine.frontend.layers.base import deserialize_layer, serialize_layer, weight_budget
from theanine.frontend.registry import (
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_serializable,
    registered_name,
)

__all__ = [
    "save_model",
    "load_model",
    "save_weights",
    "load_weights",
    "restore_training_state",
    "atomic_write",
    "register_serializable",
    "register_keras_serializable",
    "custom_object_scope",
    "CustomObjectScope",
    "get_custom_objects",
    "serialize_keras_object",
    "deserialize_keras_object",
    "get_registered_name",
    "get_registered_object",
]

register_keras_serializable = register_serializable
"""Keras' name for ``register_serializable``."""

FORMAT = "theanine.model"
WEIGHTS_FORMAT = "theanine.weights"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- writing


def _write_json(archive: zipfile.ZipFile, name: str, value) -> None:
    archive.writestr(name, json.dumps(value, indent=1, sort_keys=False))


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    archive.writestr(name, buffer.getvalue())


def _write_arrays(archive: zipfile.ZipFile, folder: str, arrays: list[np.ndarray]) -> None:
    for index, array in enumerate(arrays):
        _write_array(archive, f"{folder}/{index:05d}.npy", array)


def _weight_table(model) -> list[dict]:
    return [
        {"name": w.name, "shape": list(w.get_value(borrow=True).shape), "dtype": w.dtype}
        for w in model.weights
    ]


def save_model(
    model, path, include_optimizer: bool = True, training_state: Mapping | None = None
) -> None:
    """Write ``model``: architecture, weights, compile config, optimizer and random state.

    ``training_state`` (JSON: the epoch a ``BackupAndRestore`` backup was
    taken at) is stored in the same file, so a backup is written whole or not
    at all; ``restore_training_state`` reads it back.
    """
    description = {
        "model": serialize_layer(model),
        "build": _build_config(model),
        "weights": _weight_table(model),
        "compile": _compile_config(model) if include_optimizer else None,
        "training_state": None if training_state is None else dict(training_state),
    }
    optimizer_state = (
        model.optimizer.get_variable_values() if include_optimizer and model.optimizer else []
    )
    random_states = [s.get_value() for s in model._random_states()]
    with (
        _writing(path) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        _write_json(archive, "metadata.json", _metadata(FORMAT))
        _write_json(archive, "model.json", description)
        _write_arrays(archive, "weights", model.get_weights())
        _write_arrays(archive, "optimizer", optimizer_state)
        _write_arrays(archive, "random", random_states)
        state_keys = layer_state.write(archive, model, _write_array)
        if state_keys:
            _write_json(archive, "layer_state.json", state_keys)


def save_weights(model, path) -> None:
    """Write only the weights (in ``model.weights`` order) to ``path``, atomically."""
    with (
        _writing(path) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        _write_json(archive, "metadata.json", _metadata(WEIGHTS_FORMAT))
        _write_json(archive, "model.json", {"weights": _weight_table(model)})
        _write_arrays(archive, "weights", model.get_weights())


@contextlib.contextmanager
def _writing(path) -> Iterator:
    """``atomic_write(path)``, with every failure naming ``path`` (the writer's own errors name its
    temporary file): a directory or a missing folder is refused before anything is written."""
    target = os.fspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "cannot save a model file over a directory", target)
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, "cannot save: the folder to save in does not exist", folder)
    try:
        with atomic_write(path) as handle:
            yield handle
    except OSError as error:
        if error.errno is None:
            raise
        raise type(error)(error.errno, f"cannot save {target!r}: {error.strerror}", error.filename) from error


def _metadata(kind: str) -> dict:
    return {"format": kind, "format_version": FORMAT_VERSION, "theanine_version": th.__version__}


def _build_config(model) -> list | None:
    specs = model.input_specs()
    if specs is None:
        return None
    return [{"shape": list(shape), "dtype": dtype} for shape, dtype in specs]


def _overrides_compile_hooks(model) -> bool:
    from theanine.frontend.models import Model

    cls = type(model)
    return cls.get_compile_config is not Model.get_compile_config or \
        cls.compile_from_config is not Model.compile_from_config


def _compile_config(model) -> dict | None:
    """The compile() arguments as JSON, or None when the model is not compiled; a model class
    overriding Keras' ``get_compile_config``/``compile_from_config`` saves what its hook gives."""
    if not model.compiled:
        return None
    if _overrides_compile_hooks(model):
        return {"compile_hook": model.get_compile_config()}
    return compile_arguments(model)


def compile_arguments(model) -> dict:
    """compile()'s arguments of ``model`` as JSON (``Model.get_compile_config``'s default)."""
    config = model._compile_config
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize_tree(config.loss, losses_module.serialize),
        "metrics": _serialize_tree(config.metrics, metrics_module.serialize),
        "weighted_metrics": _serialize_tree(config.weighted_metrics, metrics_module.serialize),
        "loss_weights": config.loss_weights,
        "steps_per_execution": model.steps_per_execution,
        "jit_compile": model.jit_compile,
    }


def _serialize_tree(value, serialize: Callable):
    """Strings stay strings, classes become their registered names, objects and functions
    become ``serialize``'s dicts; lists and dicts are walked."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, type):
        return registered_name(value)
    if isinstance(value, Mapping):
        return {k: _serialize_tree(v, serialize) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialize_tree(v, serialize) for v in value]
    return serialize(value)


# ----------------------------------------------------------------------------- reading


def _check_metadata(archive: Archive, expected_format: str) -> None:
    metadata = archive.json("metadata.json")
    if not isinstance(metadata, Mapping) or metadata.get("format") != expected_format:
        found = metadata.get("format") if isinstance(metadata, Mapping) else metadata
        raise ValueError(
            f"{archive.path!r} is not a {expected_format} file (metadata says format={found!r})"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{archive.path!r} has format_version {metadata.get('format_version')!r}; this "
            f"theanine reads version {FORMAT_VERSION}"
        )


@contextlib.contextmanager
def _open(path, expected_format: str, max_bytes: int | None) -> Iterator[Archive]:
    with open_archive(path, max_bytes) as archive:
        _check_metadata(archive, expected_format)
        yield archive


def load_model(
    path, custom_objects: Mapping | None = None, compile: bool = True, max_bytes: int | None = None
):
    """Rebuild the model saved at ``path``: same predictions bit for bit, training resumes.

    ``custom_objects`` maps class names to user classes (custom layers or
    models) and function names to functions (Lambda layers, custom losses);
    registered ones (``register_serializable``) need no entry.  ``max_bytes``
    raises the limit on the content a file may declare (see ``archive``).
    """
    with _open(path, FORMAT, max_bytes) as archive, custom_object_scope(custom_objects):
        description = archive.json("model.json")
        budget = archive.declared_bytes("weights") + _BUDGET_SLACK
        with weight_budget(budget, f"cannot load {archive.path!r}"):
            model = _rebuild(archive.path, description, custom_objects)
        _set_weights(archive, model, description.get("weights"))
        state_keys = archive.json("layer_state.json") if "layer_state.json" in archive.entries else {}
        layer_state.read(archive, model, state_keys)
        if compile and description.get("compile"):
            _compile_from_config(archive.path, model, description["compile"], custom_objects)
            model.optimizer.set_variable_values(archive.arrays("optimizer"))
        random_states = archive.arrays("random")
        if random_states:
            model._pending_state["random"] = random_states
    return model


_BUDGET_SLACK = 2**20
"""Weight bytes a rebuilt model may create beyond those its file holds (1 MiB)."""


def _rebuild(path: str, description, custom_objects):
    if not isinstance(description, Mapping) or "model" not in description:
        raise ValueError(f"{path!r} is corrupt: model.json has no 'model' entry")
    try:
        model = deserialize_layer(description["model"], custom_objects)
        build = description.get("build")
        if not model.built and build:
            model.build_from_specs([(tuple(spec["shape"]), spec["dtype"]) for spec in build])
    except ValueError as exc:
        if str(exc).startswith(f"cannot load {path!r}"):
            raise
        raise ValueError(f"cannot load {path!r}: {exc}") from exc
    except (KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(
            f"cannot load {path!r}: the model config is invalid ({type(exc).__name__}: {exc})"
        ) from exc
    return model


def _set_weights(archive: Archive, model, table) -> None:
    """Check every weight entry's header against the model, then read and assign them."""
    names = archive.names("weights")
    weights = model.weights
    if len(names) != len(weights):
        raise ValueError(
            f"{archive.path!r} holds {len(names)} weight arrays but the rebuilt model has "
            f"{len(weights)} weights"
        )
    for index, (weight, name) in enumerate(zip(weights, names, strict=True)):
        shape, dtype = archive.header(name)
        expected = weight.get_value(borrow=True)
        if shape != expected.shape or dtype != expected.dtype:
            label = table[index]["name"] if table and index < len(table) else f"#{index}"
            raise ValueError(
                f"{archive.path!r}: weight {label} has shape {shape} and dtype {dtype}; the "
                f"model expects {expected.shape} {expected.dtype} for {weight.name}"
            )
    model.set_weights([archive.array(name) for name in names])


def _compile_from_config(path: str, model, config: Mapping, custom_objects) -> None:
    """Compile the loaded model: through its own ``compile_from_config`` when its class overrides
    the compile hooks, else with the saved compile() arguments."""
    hooked = "compile_hook" in config
    try:
        if hooked:
            model.compile_from_config(config["compile_hook"])
        else:
            compile_with(model, config, custom_objects)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"{type(model).__name__}.compile_from_config failed" if hooked else "the compile config is invalid"
        raise ValueError(f"cannot load {path!r}: {what} ({exc})") from exc


def compile_with(model, config: Mapping, custom_objects=None) -> None:
    """``model.compile(...)`` from ``compile_arguments``' dict (``Model.compile_from_config``'s default)."""
    def metric(serialized):
        return metrics_module.get(serialized, custom_objects=custom_objects)

    model.compile(
        optimizer=optimizers.deserialize(config["optimizer"], custom_objects),
        loss=_deserialize_tree(config["loss"], lambda c: losses_module.get(c, custom_objects)),
        metrics=_deserialize_tree(config.get("metrics"), metric),
        weighted_metrics=_deserialize_tree(config.get("weighted_metrics"), metric),
        loss_weights=config.get("loss_weights"),
        steps_per_execution=config.get("steps_per_execution", 1),
        jit_compile=config.get("jit_compile", "auto"),
    )


def _deserialize_tree(value, deserialize: Callable):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "class_name" in value:
        return deserialize(value)
    if isinstance(value, Mapping):
        return {k: _deserialize_tree(v, deserialize) for k, v in value.items()}
    if isinstance(value, list):
        return [_deserialize_tree(v, deserialize) for v in value]
    return value


def restore_training_state(model, path, max_bytes: int | None = None) -> dict:
    """Put the state ``save_model`` wrote back into ``model`` itself: weights, optimizer state
    (applied when the optimizer builds, if it has not yet) and random streams; returns the
    ``training_state`` stored with them ({} if none)."""
    with _open(path, FORMAT, max_bytes) as archive, _all_or_nothing(model):
        description = archive.json("model.json")
        optimizer_state = archive.arrays("optimizer")
        random_states = archive.arrays("random")
        if optimizer_state and model.optimizer is None:
            raise ValueError(f"{archive.path!r} holds optimizer state but {model.name} is not compiled")
        _set_weights(archive, model, description.get("weights"))
        if optimizer_state:
            model.optimizer.set_variable_values(optimizer_state)
        if random_states:
            model._pending_state["random"] = random_states
        return dict(description.get("training_state") or {})


@contextlib.contextmanager
def _all_or_nothing(model) -> Iterator[None]:
    """Put the model's weights and optimizer state back as they were when the block fails (the
    file's weights fit, its optimizer state does not): a restore is applied whole or not at all."""
    weights = model.get_weights()
    optimizer = model.optimizer
    state = optimizer.get_variable_values() if optimizer is not None else None
    try:
        yield
    except BaseException:
        model.set_weights(weights)
        if state is not None:
            optimizer.set_variable_values(state)
        raise


def load_weights(model, path, max_bytes: int | None = None) -> None:
    """Load weights written by ``save_weights`` (or ``save``) into a model of the same design."""
    with contextlib.ExitStack() as stack:
        try:
            archive = stack.enter_context(_open(path, WEIGHTS_FORMAT, max_bytes))
        except ValueError as exc:
            if "is not a theanine.weights file" not in str(exc):
                raise
            archive = stack.enter_context(_open(path, FORMAT, max_bytes))
        _set_weights(archive, model, archive.json("model.json").get("weights"))


CustomObjectScope = custom_object_scope
"""Keras' other name for ``custom_object_scope``."""


def _families() -> list:
    """The registries ``deserialize_keras_object`` looks a built-in class name up in, in order."""
    from theanine.frontend import constraints, initializers, regularizers

    return [regularizers.REGISTRY, initializers.REGISTRY, constraints.REGISTRY, losses_module.REGISTRY,
            metrics_module.REGISTRY, optimizers.REGISTRY, optimizers.SCHEDULE_REGISTRY]


def serialize_keras_object(obj):
    """Keras' ``saving.serialize_keras_object``: an object with ``get_config`` as
    ``{"class_name", "config"}`` (its config's values serialized in turn), a function by its
    registered name, lists and dicts item by item, plain values as they are."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "get_config"):
        return {"class_name": registered_name(type(obj)), "config": serialize_keras_object(obj.get_config())}
    if callable(obj):
        from theanine.frontend.registry import function_reference

        return function_reference(obj, "object")
    raise TypeError(f"serialize_keras_object: cannot serialize a {type(obj).__name__}: {obj!r}")


def deserialize_keras_object(config, custom_objects: Mapping | None = None):
    """The object ``serialize_keras_object`` described: the class its ``class_name`` names (a
    user one first, then the built-in layers, regularizers, initializers, constraints, losses,
    metrics, optimizers and schedules) rebuilt with ``from_config``; a function by name; other
    values as they are."""
    from theanine.frontend import activations
    from theanine.frontend.layers.base import get_layer_class
    from theanine.frontend.registry import function_by_name, is_function_reference, registered_object

    if not isinstance(config, Mapping) or "class_name" not in config:
        return config
    with custom_object_scope(custom_objects):
        if is_function_reference(config):
            return function_by_name(config["config"], "function", builtins=activations.ACTIVATIONS)
        name, inner = str(config["class_name"]), dict(config.get("config") or {})
        found = registered_object(name)
        if found is None:
            found = next((family.entries[name] for family in _families() if name in family.entries), None)
        if found is None:
            found = get_layer_class(name)  # raises, naming the class, when it is no layer either
        return found.from_config(inner)

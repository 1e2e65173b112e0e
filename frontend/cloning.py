"""``clone_model``: the same architecture with new layers and new weights (``keras.models``).

A Sequential model is rebuilt from clones of its layers, a functional
model by replaying its recorded layer calls on new inputs with the
cloned layers, so shared layers stay shared and nested models are cloned
as layers.  A layer's clone is ``clone_function(layer)``, by default
``type(layer).from_config(layer.get_config())``: the same configuration
with freshly initialized weights, as Keras documents.  The operations a
functional model applies between layers (``OperationLayer``) hold no
weights: the clone calls the same ones, as Keras 3 reuses its op nodes
(``clone_function`` sees layers only).  A subclassed
model is rebuilt from its config; it cannot take ``clone_function`` or
``input_tensors`` since its graph is Python code.
"""

from __future__ import annotations

from collections.abc import Callable

from theanine.frontend.layers.base import Input, InputLayer, Layer, history_of
from theanine.frontend.layers.operation import OperationLayer
from theanine.frontend.models import Functional, Sequential, _restructure

__all__ = ["clone_model", "clone_layer"]


def clone_layer(layer: Layer) -> Layer:
    """A new layer of ``layer``'s class and configuration (new weights on first build)."""
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function: Callable | None = None):
    """A copy of ``model``'s architecture with new weights.

    ``input_tensors`` (a tensor or a list, from ``layers.Input``) replace the
    model's inputs; ``clone_function(layer)`` makes each layer's clone.
    """
    clone = clone_function or clone_layer
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone)
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone)
    if clone_function is not None or input_tensors is not None:
        raise ValueError(
            f"clone_model of the subclassed model {model.name!r} ({type(model).__name__}) "
            "cannot take clone_function or input_tensors: only Sequential and functional "
            "models have a graph of layers to rebuild"
        )
    return type(model).from_config(model.get_config())


def _checked_clone(clone: Callable, layer: Layer) -> Layer:
    result = clone(layer)
    if not isinstance(result, Layer):
        raise TypeError(
            f"clone_function must return a Layer. Received: {type(result).__name__} for layer "
            f"{layer.name!r}"
        )
    return result


def _new_inputs(model, input_tensors) -> list:
    """Fresh ``Input`` tensors like the model's, or the given ones (as many as the model has)."""
    if input_tensors is None:
        return [_input_like(t) for t in model.inputs]
    given = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    if len(given) != len(model.inputs):
        raise ValueError(
            f"clone_model: {model.name!r} has {len(model.inputs)} input(s), received "
            f"{len(given)} input_tensors"
        )
    return given


def _input_like(tensor):
    layer = history_of(tensor)[0]
    return Input(batch_shape=layer.batch_shape, dtype=layer.dtype, name=layer.name)


def _clone_sequential(model, input_tensors, clone: Callable):
    copy = Sequential(name=model.name, trainable=model.trainable)
    if model.inputs is not None or input_tensors is not None:
        copy.add(_new_inputs(model, input_tensors)[0])
    for layer in model.layers:
        copy.add(_checked_clone(clone, layer))
    return copy


def _clone_functional(model, input_tensors, clone: Callable):
    inputs = _new_inputs(model, input_tensors)
    values = {id(old): new for old, new in zip(model.inputs, inputs, strict=True)}
    clones: dict[int, Layer] = {}
    for node in model._nodes:
        if isinstance(node.layer, InputLayer):
            continue
        if id(node.layer) not in clones:
            stateless = isinstance(node.layer, OperationLayer)
            clones[id(node.layer)] = node.layer if stateless else _checked_clone(clone, node.layer)
        call_inputs, args, kwargs = node.call_arguments([values[id(t)] for t in node.inputs])
        outputs = clones[id(node.layer)](call_inputs, *args, **kwargs)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for old, new in zip(node.outputs, outputs, strict=True):
            values[id(old)] = new
    return Functional(
        inputs=_restructure(inputs, model._input_keys),
        outputs=_restructure([values[id(t)] for t in model.outputs], model._output_keys),
        name=model.name,
        trainable=model.trainable,
    )

"""Models: Sequential, functional ``Model(inputs, outputs)`` and subclassed ``Model``.

A model is a layer (it can be called on tensors and nested in other
models) that also trains (``compile``/``fit``/``evaluate``/``predict``
come from ``training.Trainer``) and saves (``saving``).

- Functional: ``Model(inputs, outputs)`` traces the layer calls recorded in
  the tensors' history from ``outputs`` back to ``inputs`` into a list of
  nodes in topological order; calling the model replays those nodes on new
  tensors.  A layer called twice appears in two nodes and shares weights.
  Operations on the tensors between layers (``x = h + inputs``,
  ``ops.mean(x, axis=-1)``) become calls of automatic ``OperationLayer``s
  (``layers/operation.py``) when their result reaches a layer call or the
  model's outputs; weights must live in layers, and an output may not be
  an input itself.
- Sequential: a functional model grown one layer at a time; without an
  ``Input`` it is built when it first sees data (or ``build(shape)``).
- Subclassed: layers assigned as attributes are tracked (their weights are
  the model's), ``call`` holds the computation; it is built on first use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from theanine.frontend.layers.base import (
    Input,
    InputLayer,
    Layer,
    Node,
    call_context,
    deserialize_layer,
    has_history,
    history_of,
    register_layer,
    serialize_layer,
)
from theanine.frontend.layers.operation import OperationLayer, record_operations
from theanine.frontend.registry import custom_object_scope
from theanine.frontend.training import Trainer
from theanine.graph.basic import TensorVariable, topological_order

__all__ = [
    "Model",
    "Functional",
    "Sequential",
    "load_model",
    "save_model",
    "model_from_json",
    "clone_model",
]


class Model(Trainer, Layer):
    """Base of every model; subclass it with layers as attributes and a ``call``.

    ``Model(inputs, outputs)`` returns a ``Functional`` model, as in Keras.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        """``Model(name=None, trainable=True, dtype=None)``; a subclass called with ``(inputs,
        outputs)`` becomes a functional model of that subclass, as in Keras: ``Functional`` takes
        ``Model``'s place among the subclass's bases (its ``train_step`` and the like still apply)."""
        if _functional_arguments(args, kwargs) and not isinstance(self, Functional):
            cls = type(self)
            cls.__bases__ = tuple(Functional if base is Model else base for base in cls.__bases__)
            Functional.__init__(self, *args, **kwargs)
            return
        self._init_model(*args, **kwargs)

    def _init_model(self, name: str | None = None, trainable: bool = True, dtype=None, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, dtype=dtype, **kwargs)
        self._init_trainer()
        self._build_specs: list[tuple[tuple, str]] | None = None
        self._n_outputs = 1
        self._names_checked = False

    # -- structure ------------------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The model's direct sublayers, in order."""
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A direct sublayer by name or by index in ``layers``."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"{self.name}.get_layer: index {index} out of range for {len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"{self.name} has no layer named {name!r}; layers: {[l.name for l in layers]}"
        )

    def _sublayers(self) -> list[Layer]:
        layers = list(self._tracked_layers)
        if not self._names_checked and self.built:
            _make_names_unique(layers, self.name)
            self._names_checked = True
        return layers

    # -- building subclassed models ---------------------------------------------------------------

    def build(self, input_shape) -> None:
        """Build a subclassed model by tracing ``call`` on placeholders of ``input_shape``."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self.build_from_specs(
            [(tuple(s), self.dtype) for s in shapes], as_list=isinstance(input_shape, list)
        )

    def build_from_specs(
        self, specs: Sequence[tuple[tuple, str]], as_list: bool | None = None
    ) -> None:
        """Create the weights by calling the model on placeholders of ``(shape, dtype)``."""
        if self.built:
            return
        self._build_specs = [(tuple(shape), str(dtype)) for shape, dtype in specs]
        self._build_as_list = len(specs) > 1 if as_list is None else as_list
        placeholders = [Input(batch_shape=shape, dtype=dtype) for shape, dtype in self._build_specs]
        self.built = True
        with call_context(training=False):
            outputs = self.call(placeholders if self._build_as_list else placeholders[0])
        self._n_outputs = len(outputs) if isinstance(outputs, (list, tuple, Mapping)) else 1

    def _maybe_build(self, flat: list, is_list: bool) -> None:
        if not self.built:
            self.build_from_specs([(t.type.shape, t.dtype) for t in flat], as_list=is_list)

    def input_specs(self) -> list[tuple[tuple, str]] | None:
        """``(batch_shape, dtype)`` of each input, or None while unknown."""
        return self._build_specs

    # -- description ------------------------------------------------------------------------------

    def summary(self, line_length: int | None = None, positions=None, print_fn=None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range=None) -> None:
        """Print a Keras-style table: layer (type), output shape, parameter count, totals
        (Keras 3's arguments; ``frontend/summary.py``)."""
        from theanine.frontend import summary

        text = summary.format_summary(self, line_length, positions, expand_nested, show_trainable, layer_range)
        (print_fn or print)(text)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None) -> Model:
        """A model from ``get_config``'s dict; ``Model.from_config`` of a functional model's config
        rebuilds the functional model, as in Keras.  ``custom_objects`` names the user's classes
        and functions the config refers to (as ``load_model``'s)."""
        if custom_objects:
            with custom_object_scope(custom_objects):
                return cls.from_config(config)
        if cls is Model and _FUNCTIONAL_KEYS <= set(config):
            return Functional.from_config(config)
        try:
            return cls(**config)
        except TypeError as exc:
            raise TypeError(
                f"cannot rebuild {cls.__name__} from its config {sorted(config)}: {exc}. A "
                "subclassed "
                "model whose __init__ takes arguments must define get_config() returning them"
            ) from exc

    def get_compile_config(self) -> dict | None:
        """Keras' hook: what ``compile_from_config`` needs to compile the model again after
        loading; by default compile()'s arguments (None when not compiled)."""
        from theanine.frontend import saving

        return saving.compile_arguments(self) if self.compiled else None

    def compile_from_config(self, config: dict) -> None:
        """Keras' hook: compile from ``get_compile_config``'s dict."""
        from theanine.frontend import saving

        saving.compile_with(self, config)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON text (``json.dumps`` keyword arguments apply); no weights."""
        return json.dumps(serialize_layer(self), **kwargs)

    def save(self, path, include_optimizer: bool = True) -> None:
        """Write the architecture, weights and optimizer state to one file (atomically); under a
        data-parallel strategy, on rank 0 only (every rank holds the same weights)."""
        from theanine.frontend import saving

        if self._strategy is not None and not self._strategy.is_chief:
            return

        saving.save_model(self, path, include_optimizer=include_optimizer)

    def export(self, path, format: str = "onnx", opset: int = 18):
        """Write the inference graph (``training=False``: dropout off, normalization in inference form)
        as an ONNX file, as Keras 3's ``model.export(path, format="onnx")``; the batch dimension stays
        dynamic and the weights become initializers.  Returns the ``onnx.ModelProto``."""
        if format != "onnx":
            raise ValueError(f"{self.name}.export: format must be 'onnx'. Received: {format!r}")
        import theanine as th

        inputs, outputs = self._step_functions().onnx_graph()
        names = self._output_name_list()
        return th.onnx.export(outputs, path, inputs=inputs, opset=opset,
                              output_names=names if len(names) == len(outputs) else None)

    def save_weights(self, path) -> None:
        """Write the weights to one file (on rank 0 only under a data-parallel strategy)."""
        from theanine.frontend import saving

        if self._strategy is not None and not self._strategy.is_chief:
            return

        saving.save_weights(self, path)

    def load_weights(self, path, max_bytes: int | None = None) -> None:
        """Load weights saved by ``save_weights`` or ``save`` (see ``saving.load_weights``)."""
        from theanine.frontend import saving

        saving.load_weights(self, path, max_bytes=max_bytes)


_FUNCTIONAL_KEYS = frozenset({"layers", "nodes", "inputs", "outputs"})
"""The entries that mark a functional model's config."""


@register_layer
class Functional(Model):
    """A model defined by the graph of layer calls between ``inputs`` and ``outputs``."""

    def __init__(
        self, inputs=None, outputs=None, name: str | None = None, trainable: bool = True, **kwargs
    ):
        super().__init__(name=name, trainable=trainable, **kwargs)
        if inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)
            _refuse_inputs_as_outputs(self.outputs)

    def _init_graph(self, inputs, outputs) -> None:
        self._input_keys, self.inputs = _flatten_structure(inputs, "inputs")
        self._output_keys, self.outputs = _flatten_structure(outputs, "outputs")
        for tensor in self.inputs:
            if not isinstance(history_of(tensor)[0], InputLayer):
                raise ValueError(
                    "Model inputs must be tensors returned by layers.Input(...). Received: "
                    f"{tensor!r} made by "
                    f"layer {history_of(tensor)[0].name!r}"
                )
        self._nodes = _topological_nodes(self.inputs, self.outputs)
        self._graph_layers = _layers_of(self._nodes, self.inputs)
        _make_names_unique(self._graph_layers, self.name)
        self._build_specs = [(t.type.shape, t.dtype) for t in self.inputs]
        self._build_as_list = self._input_keys is not None
        self.built = True
        self._eager_functions.clear()

    def _sublayers(self) -> list[Layer]:
        return [
            layer
            for layer in getattr(self, "_graph_layers", [])
            if not isinstance(layer, InputLayer)
        ]

    @property
    def layers(self) -> list[Layer]:
        """The input layers and the layers called, in order; the operations between them are not
        layers (as in Keras 3, where ``model.layers`` leaves out its op nodes): see ``operations``."""
        return [layer for layer in self.operations if not isinstance(layer, OperationLayer)]

    @property
    def operations(self) -> list[Layer]:
        """Every node's layer in order, ``OperationLayer``s included (Keras 3's ``operations``)."""
        return list(getattr(self, "_graph_layers", []))

    @property
    def input(self):
        """The model's inputs as given to ``Model(inputs, ...)``: one tensor, a list or a dict."""
        return _restructured(self._graph_part("_input_keys"), self.inputs)

    @property
    def output(self):
        """The model's outputs as given to ``Model(..., outputs)``: one tensor, a list or a dict."""
        return _restructured(self._graph_part("_output_keys"), self.outputs)

    @property
    def input_shape(self):
        """The inputs' shapes (None for the batch and other flexible dims): one tuple for a single
        input, else a list of them, as Keras' ``Functional.input_shape``."""
        return _shapes_of(self._graph_part("inputs"))

    @property
    def output_shape(self):
        """The outputs' shapes: one tuple for a single output, else a list, as Keras'."""
        return _shapes_of(self._graph_part("outputs"))

    def _graph_part(self, name: str):
        if getattr(self, "inputs", None) is None or not hasattr(self, name):
            raise AttributeError(f"model {self.name!r} has no inputs and outputs yet: give it an Input first "
                                 "or build it")
        return getattr(self, name)

    @property
    def input_names(self) -> list[str]:
        if (
            isinstance(self._input_keys, list)
            and self._input_keys
            and isinstance(self._input_keys[0], str)
        ):
            return list(self._input_keys)
        return [history_of(t)[0].name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        if (
            isinstance(self._output_keys, list)
            and self._output_keys
            and isinstance(self._output_keys[0], str)
        ):
            return list(self._output_keys)
        return _unique([history_of(t)[0].name for t in self.outputs])

    def build(self, input_shape) -> None:
        """A functional model is built by construction."""

    def call(self, inputs, training=None):
        """Replay the recorded layer calls on ``inputs`` (a tensor, list or dict by input name)."""
        flat = self._flatten_call_inputs(inputs)
        values = {id(t): v for t, v in zip(self.inputs, flat, strict=True)}
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            call_inputs, args, kwargs = node.call_arguments([values[id(t)] for t in node.inputs])
            outputs = node.layer(call_inputs, *args, **kwargs)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            for tensor, value in zip(node.outputs, outputs, strict=True):
                values[id(tensor)] = value
        return self._restructure_outputs([values[id(t)] for t in self.outputs])

    def _flatten_call_inputs(self, inputs) -> list:
        if isinstance(inputs, Mapping):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"{self.name}: missing input(s) {missing}; given {sorted(inputs)}")
            return [inputs[n] for n in self.input_names]
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self.inputs):
            raise ValueError(
                f"{self.name} expects {len(self.inputs)} input(s), received {len(flat)}"
            )
        return flat

    def _restructure_outputs(self, flat: list):
        if self._output_keys is None:
            return flat[0]
        if self._output_keys and isinstance(self._output_keys[0], str):
            return dict(zip(self._output_keys, flat, strict=True))
        return flat

    def get_config(self) -> dict:
        """The layers and the node list (which layer is called on which tensors), in order."""
        node_ids: dict[int, tuple[str, int]] = {}
        counts: dict[str, int] = {}
        nodes = []
        for node in self._nodes:
            name = node.layer.name
            node_ids[id(node)] = (name, counts.get(name, 0))
            counts[name] = counts.get(name, 0) + 1
            if not isinstance(node.layer, InputLayer):
                nodes.append(
                    {
                        "layer": name,
                        "args": [_tensor_ref(t, node_ids) for t in node.inputs],
                        "is_list": node.inputs_are_list,
                        "kwargs": dict(node.call_kwargs),
                        **({"mask_input": True} if node.mask_input else {}),
                        **({"positional": node.positional} if node.positional else {}),
                        **({"tensor_kwargs": list(node.tensor_kwargs)} if node.tensor_kwargs else {}),
                    }
                )
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize_layer(layer) for layer in self._graph_layers],
            "nodes": nodes,
            "inputs": [_tensor_ref(t, node_ids) for t in self.inputs],
            "outputs": [_tensor_ref(t, node_ids) for t in self.outputs],
            "input_keys": self._input_keys,
            "output_keys": self._output_keys,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None) -> Functional:
        if custom_objects:
            with custom_object_scope(custom_objects):
                return cls.from_config(config)
        layers = {}
        for spec in config["layers"]:
            layer = deserialize_layer(spec)
            layers[layer.name] = layer
        tensors: dict[tuple[str, int, int], TensorVariable] = {}
        calls: dict[str, int] = {}
        for name, layer in layers.items():
            if isinstance(layer, InputLayer):
                tensors[(name, 0, 0)] = layer._inbound_nodes[0].outputs[0]
                calls[name] = 1
        for entry in config["nodes"]:
            layer = _named(layers, entry["layer"])
            args = [_resolve_ref(tensors, ref) for ref in entry["args"]]
            recorded = Node(layer, args, [], entry["is_list"], entry.get("kwargs", {}),
                            entry.get("mask_input", False), entry.get("positional", 0),
                            tuple(entry.get("tensor_kwargs", ())))
            call_inputs, positional, kwargs = recorded.call_arguments(args)
            outputs = layer(call_inputs, *positional, **kwargs)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            index = calls.get(layer.name, 0)
            calls[layer.name] = index + 1
            for k, tensor in enumerate(outputs):
                tensors[(layer.name, index, k)] = tensor
        inputs = _restructure(
            [_resolve_ref(tensors, r) for r in config["inputs"]], config.get("input_keys")
        )
        outputs = _restructure(
            [_resolve_ref(tensors, r) for r in config["outputs"]], config.get("output_keys")
        )
        model = cls(
            inputs=inputs,
            outputs=outputs,
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )
        return model


@register_layer
class Sequential(Functional):
    """A linear stack of layers: ``Sequential([Input(shape=(64,)), Dense(10)])`` or ``.add``."""

    def __init__(
        self,
        layers: Sequence | None = None,
        name: str | None = None,
        trainable: bool = True,
        **kwargs,
    ):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._stack: list[Layer] = []
        self._input_tensor: TensorVariable | None = None
        self._graph_layers: list[Layer] = []
        self.inputs = self.outputs = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (or set the input with an ``Input`` tensor / ``InputLayer``)."""
        if isinstance(layer, InputLayer):
            layer = layer._inbound_nodes[0].outputs[0]
        if (
            isinstance(layer, TensorVariable)
            and has_history(layer)
            and isinstance(history_of(layer)[0], InputLayer)
        ):
            if self._input_tensor is not None or self._stack:
                raise ValueError(
                    f"{self.name}: an Input can only be the first entry of a Sequential model"
                )
            self._input_tensor = layer
            self._rebuild_graph()
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                "Sequential.add expects a Layer or layers.Input(...). Received: "
                f"{type(layer).__name__}"
            )
        if (
            self._input_tensor is None
            and not self._stack
            and layer._declared_input_shape is not None
        ):
            self._input_tensor = Input(batch_shape=layer._declared_input_shape)
        self._stack.append(layer)
        if self._input_tensor is not None:
            self._extend_graph(layer)

    def _extend_graph(self, layer: Layer) -> None:
        current = self.outputs[0] if self.outputs else self._input_tensor
        output = layer(current)
        if isinstance(output, (list, tuple)):
            raise ValueError(
                f"{self.name}: layer {layer.name!r} returns several tensors; use a functional Model"
            )
        self._init_graph(self._input_tensor, output)

    def _rebuild_graph(self) -> None:
        if self._input_tensor is None:
            return
        output = self._input_tensor
        for layer in self._stack:
            output = layer(output)
        self._init_graph(self._input_tensor, output)

    def build(self, input_shape=None) -> None:
        """Build a Sequential model that has no Input yet, from a batch shape."""
        if self.built:
            return
        if input_shape is None:
            raise ValueError(f"{self.name} has no Input; call build(input_shape) or fit it on data")
        self._input_tensor = Input(batch_shape=tuple(input_shape), dtype=self.dtype)
        self._rebuild_graph()

    def build_from_specs(self, specs, as_list: bool | None = None) -> None:
        if self.built:
            return
        if len(specs) != 1:
            raise ValueError(
                f"a Sequential model has one input; received {len(specs)} input arrays"
            )
        if self._input_tensor is None:
            shape, dtype = specs[0]
            self._input_tensor = Input(batch_shape=tuple(shape), dtype=dtype)
        self._rebuild_graph()

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer; the model's outputs become the previous layer's.

        Compiled step functions are dropped (the next fit/predict traces the
        new graph); with ``rebuild=False`` the graph is rebuilt on next use.
        """
        if not self._stack:
            raise TypeError(f"{self.name}.pop: there are no layers in the model")
        layer = self._stack.pop()
        self._steps = None
        self._eager_functions.clear()
        self.inputs = self.outputs = None
        self.built = False
        if rebuild:
            self._rebuild_graph()
        return layer

    def _sublayers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def get_config(self) -> dict:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize_layer(layer) for layer in self._stack],
        }
        if self._input_tensor is not None:
            config["input"] = {
                "batch_shape": list(self._input_tensor.type.shape),
                "dtype": self._input_tensor.dtype,
                "name": history_of(self._input_tensor)[0].name,
            }
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None) -> Sequential:
        if custom_objects:
            with custom_object_scope(custom_objects):
                return cls.from_config(config)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("input") is not None:
            spec = config["input"]
            model.add(
                Input(batch_shape=spec["batch_shape"], dtype=spec["dtype"], name=spec.get("name"))
            )
        for spec in config["layers"]:
            model.add(deserialize_layer(spec))
        return model


def model_from_json(json_string: str, custom_objects: Mapping | None = None) -> Model:
    """The model ``Model.to_json`` described, with fresh weights (user classes by name, as in
    ``load_model``)."""
    try:
        spec = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model_from_json needs a model's to_json() text ({exc})") from exc
    model = deserialize_layer(spec, custom_objects)
    if not isinstance(model, Model):
        raise ValueError(
            f"model_from_json describes a {type(model).__name__} layer, not a model. Received: "
            f"class_name={spec.get('class_name')!r}"
        )
    return model


def clone_model(model, input_tensors=None, clone_function=None) -> Model:
    """The same architecture with new weights (see ``cloning.clone_model``)."""
    from theanine.frontend import cloning

    return cloning.clone_model(model, input_tensors=input_tensors, clone_function=clone_function)


def load_model(
    path, custom_objects: Mapping | None = None, compile: bool = True, max_bytes: int | None = None
) -> Model:
    """Restore a model written by ``model.save`` (see ``saving.load_model``)."""
    from theanine.frontend import saving

    return saving.load_model(
        path, custom_objects=custom_objects, compile=compile, max_bytes=max_bytes
    )


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Keras' ``models.save_model``: write ``model`` to ``filepath`` (``model.save``'s format).

    ``overwrite=False`` refuses an existing file (Keras asks interactively; theanine raises)."""
    import os

    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_model: {filepath!r} exists and overwrite=False")
    model.save(filepath, include_optimizer=include_optimizer)


# ----------------------------------------------------------------------------- graph helpers


def _flatten_structure(value, what: str) -> tuple[list | None, list]:
    """``(keys, tensors)``: keys None for one tensor, ints for a list, names for a dict."""
    if isinstance(value, Mapping):
        return list(value), _checked_tensors([value[k] for k in value], what)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"Model {what} must not be empty")
        tensors = list(value)
        return list(range(len(tensors))), _checked_tensors(tensors, what)
    return None, _checked_tensors([value], what)


def _functional_arguments(args: tuple, kwargs: dict) -> bool:
    """Whether ``Model(...)`` arguments are ``(inputs, outputs)`` (Keras' test)."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


def _shapes_of(tensors: list):
    shapes = [tuple(t.type.shape) for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def _restructured(keys: list | None, tensors: list):
    """``tensors`` in the structure ``_flatten_structure`` read them from."""
    if keys is None:
        return tensors[0]
    if keys and isinstance(keys[0], str):
        return dict(zip(keys, tensors, strict=True))
    return list(tensors)


def _checked_tensors(tensors: list, what: str) -> list:
    """``tensors``, each with layer history; outputs computed by operations get theirs here
    (``layers/operation.py``)."""
    for i, tensor in enumerate(tensors):
        if what == "outputs":
            record_operations([tensor], f"Model outputs[{i}]")
        if not isinstance(tensor, TensorVariable) or not has_history(tensor):
            raise ValueError(
                f"Model {what}[{i}] must be a tensor computed from layers.Input by layers or "
                f"operations. Received: {tensor!r}, which depends on no layers.Input"
            )
    return tensors


def _refuse_inputs_as_outputs(outputs: list) -> None:
    """A functional model computes its outputs: one that is an input itself is a mistake (a
    Sequential model without layers is the exception, and does not come here)."""
    for i, tensor in enumerate(outputs):
        if isinstance(history_of(tensor)[0], InputLayer):
            raise ValueError(
                f"Model outputs[{i}] is the input {history_of(tensor)[0].name!r} itself: an output "
                "must be computed by a layer or an operation (e.g. layers.Identity()(x))"
            )


def _restructure(flat: list, keys):
    if keys is None:
        return flat[0]
    if keys and isinstance(keys[0], str):
        return dict(zip(keys, flat, strict=True))
    return flat


def _node_of(tensor) -> Node:
    layer, node_index, _ = history_of(tensor)
    return layer._inbound_nodes[node_index]


def _topological_nodes(inputs: list, outputs: list) -> list[Node]:
    """The nodes between ``inputs`` and ``outputs``, each after those it reads."""
    input_ids = {id(t) for t in inputs}

    def parents(node: Node) -> list[Node]:
        if isinstance(node.layer, InputLayer) and id(node.outputs[0]) not in input_ids:
            raise ValueError(
                f"Graph disconnected: the outputs depend on input {node.layer.name!r}, which is "
                f"not among the model inputs {[history_of(t)[0].name for t in inputs]}"
            )
        return [_node_of(tensor) for tensor in node.inputs]

    order = topological_order([_node_of(t) for t in outputs], parents)
    done = {id(node) for node in order}
    for tensor in inputs:
        if id(_node_of(tensor)) not in done:
            order.insert(0, _node_of(tensor))
            done.add(id(_node_of(tensor)))
    return order


def _layers_of(nodes: list[Node], inputs: list) -> list[Layer]:
    """Unique layers of ``nodes``: the input layers (in input order) first, then by first call."""
    layers: list[Layer] = [history_of(t)[0] for t in inputs]
    for node in nodes:
        if not any(node.layer is known for known in layers):
            layers.append(node.layer)
    return layers


def _make_names_unique(layers: list[Layer], model_name: str) -> None:
    """Give auto-named layers ``dense``, ``dense_1``, ...; reject duplicate user names."""
    taken: dict[str, Layer] = {}
    for layer in layers:
        if layer._auto_named:
            continue
        if layer.name in taken and taken[layer.name] is not layer:
            raise ValueError(f"model {model_name!r}: two different layers are named {layer.name!r}")
        taken[layer.name] = layer
    for layer in layers:
        if not layer._auto_named or any(layer is t for t in taken.values()):
            continue
        base = layer.name.rsplit("_", 1)[0] if _has_numeric_suffix(layer.name) else layer.name
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        if name != layer.name:
            layer._rename(name)
        taken[name] = layer


def _has_numeric_suffix(name: str) -> bool:
    head, _, tail = name.rpartition("_")
    return bool(head) and tail.isdigit()


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        out.append(name if count == 0 else f"{name}_{count}")
        seen[name] = count + 1
    return out


def _tensor_ref(tensor, node_ids: dict[int, tuple[str, int]]) -> list:
    layer, node_index, tensor_index = history_of(tensor)
    name, local_index = node_ids[id(layer._inbound_nodes[node_index])]
    return [name, local_index, tensor_index]


def _resolve_ref(tensors: dict, ref) -> TensorVariable:
    key = (str(ref[0]), int(ref[1]), int(ref[2]))
    if key not in tensors:
        raise ValueError(
            f"model config refers to tensor {list(key)}, which no earlier node produces"
        )
    return tensors[key]


def _named(layers: dict, name: str) -> Layer:
    if name not in layers:
        raise ValueError(
            f"model config calls layer {name!r}, which is not in its layer list {sorted(layers)}"
        )
    return layers[name]


# ----------------------------------------------------------------------------- summary

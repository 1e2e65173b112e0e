"""The Layer contract, symbolic inputs and the layer registry.

A layer turns symbolic tensors into symbolic tensors.  ``layer(x)`` builds
the layer on first use (``build(input_shape)`` creates its weights as
shared variables through ``add_weight``), then runs ``call``.  When ``x``
comes from ``Input`` the outputs remember which layer call produced them
(their *history*), so ``Model(inputs, outputs)`` can trace the graph of
layer calls back to its inputs, as in Keras.

Calls nest; the outermost call opens a *call context* (``call_context.py``)
that carries ``training`` down and collects state updates and losses.

Called on NumPy arrays instead of symbolic tensors, a layer runs eagerly:
``eager.py`` traces and compiles the call once per input types.

Layers are looked up by class name when a saved model is loaded; only
classes registered here with ``register_layer`` (the built-in ones),
registered by the user with ``registry.register_serializable`` or passed
as ``custom_objects`` can be restored, so loading never runs code named
by the file.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import theanine as th
from theanine.frontend import constraints, eager, initializers, ops, regularizers, variables
from theanine.frontend.call_context import call_context, current_call_context
from theanine.frontend.registry import (
    custom_object_scope,
    get_custom_objects,
    registered_name,
    registered_object,
)
from theanine.graph.basic import TensorVariable, Variable
from theanine.graph.shared import SharedVariable
from theanine.graph.type import format_shape, is_float, normalize_dtype

__all__ = [
    "Layer",
    "InputLayer",
    "Input",
    "Node",
    "register_layer",
    "get_layer_class",
    "serialize_layer",
    "deserialize_layer",
    "custom_object_scope",
    "get_custom_objects",
    "weight_budget",
]

_REGISTRY: dict[str, type] = {}


def register_layer(cls: type) -> type:
    """Class decorator: make a built-in layer loadable by its class name."""
    _REGISTRY[cls.__name__] = cls
    return cls


def get_layer_class(class_name: str) -> type:
    """A user class (``custom_objects`` or registered), else a built-in layer class."""
    found = registered_object(class_name)
    if found is not None:
        return found
    if class_name in _REGISTRY:
        return _REGISTRY[class_name]
    short = class_name.rpartition(">")[2]
    raise ValueError(
        f"unknown layer class {class_name!r}: it is neither a built-in layer, nor registered "
        "with @register_serializable, nor in custom_objects; "
        f"pass custom_objects={{{short!r}: {short}}} to restore it"
    )


def serialize_layer(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}``: what ``deserialize_layer`` rebuilds; a layer whose
    class overrides Keras' ``get_build_config``/``build_from_config`` adds its ``"build_config"``."""
    spec = {"class_name": registered_name(type(layer)), "config": layer.get_config()}
    if _overrides_build_hooks(type(layer)):
        build_config = layer.get_build_config()
        if build_config is not None:
            spec["build_config"] = build_config
    return spec


def _overrides_build_hooks(cls) -> bool:
    return cls.get_build_config is not Layer.get_build_config or cls.build_from_config is not Layer.build_from_config


def deserialize_layer(spec: Mapping, custom_objects: Mapping[str, Any] | None = None) -> Layer:
    """Rebuild a layer from ``serialize_layer`` output without running code from the data."""
    if not isinstance(spec, Mapping) or "class_name" not in spec or "config" not in spec:
        raise ValueError(
            f"a layer spec is a dict with 'class_name' and 'config'. Received: {spec!r}"
        )
    with custom_object_scope(custom_objects):
        layer = get_layer_class(spec["class_name"]).from_config(dict(spec["config"]))
        if spec.get("build_config") is not None and _overrides_build_hooks(type(layer)):
            layer.build_from_config(spec["build_config"])
            layer.built = True
        return layer


# ----------------------------------------------------------------------------- weight budget


@dataclass
class _Budget:
    """Bytes of weights that may still be created, and what they are for."""

    remaining: int
    purpose: str


_WEIGHT_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "theanine_weight_budget", default=None
)


@contextlib.contextmanager
def weight_budget(max_bytes: int, purpose: str) -> Iterator[None]:
    """Inside the block, ``add_weight`` creates at most ``max_bytes`` of weights in all.

    Loading a model rebuilds it from its config before its weights are read;
    the budget (the bytes of weights the file holds) keeps a config such as
    ``units=10**12`` from allocating memory the file cannot account for.
    Exceeding it is a ValueError that names ``purpose`` (the file).
    """
    token = _WEIGHT_BUDGET.set(_Budget(int(max_bytes), purpose))
    try:
        yield
    finally:
        _WEIGHT_BUDGET.reset(token)


def _charge_weight(nbytes: int, what: str) -> None:
    budget = _WEIGHT_BUDGET.get()
    if budget is None:
        return
    if nbytes > budget.remaining:
        raise ValueError(
            f"{budget.purpose}: {what} needs {nbytes} bytes, more than the "
            f"{budget.remaining} bytes of weights left in what is being loaded"
        )
    budget.remaining -= nbytes


# ----------------------------------------------------------------------------- nodes


@dataclass(eq=False)
class Node:
    """One call of a layer on tensors that carry history (a functional graph edge set).

    ``mask_input``: the call was given ``mask=`` a tensor of the graph (Keras'
    ``layer(x, mask=m)``); it is the last of ``inputs``, so the graph's order and
    saving see it, and ``call_arguments`` hands it back as the ``mask`` argument.
    ``positional``: how many more tensors the call took as positional arguments
    after the first (Keras' ``layer(targets, logits)``); they follow the first
    argument's tensors in ``inputs``.  ``tensor_kwargs``: the names of keyword
    arguments that were tensors of the graph (``key=``, ``attention_mask=``),
    which follow those in ``inputs`` in this order; keyword arguments of plain
    values (``use_causal_mask=True``) are in ``call_kwargs``.
    """

    layer: Layer
    inputs: list[TensorVariable]
    outputs: list[TensorVariable]
    inputs_are_list: bool = False
    call_kwargs: dict = field(default_factory=dict)
    mask_input: bool = False
    positional: int = 0
    tensor_kwargs: tuple[str, ...] = ()

    def call_arguments(self, values: list) -> tuple:
        """``(inputs, args, kwargs)`` to call the layer again with ``values`` (one per ``inputs``):
        ``layer(inputs, *args, **kwargs)``."""
        values, kwargs = list(values), dict(self.call_kwargs)
        if self.mask_input:
            kwargs["mask"] = values.pop()
        for name in reversed(self.tensor_kwargs):
            kwargs[name] = values.pop()
        split = len(values) - self.positional
        values, args = values[:split], tuple(values[split:])
        return (values if self.inputs_are_list else values[0]), args, kwargs

    @property
    def parent_nodes(self) -> list[Node]:
        """The nodes that produced this node's inputs, in input order."""
        return [history_of(t)[0]._inbound_nodes[history_of(t)[1]] for t in self.inputs]


def history_of(tensor) -> tuple[Layer, int, int]:
    """``(layer, node_index, tensor_index)`` of a tensor made by a layer call."""
    history = getattr(tensor, "_layer_history", None)
    if history is None:
        raise ValueError(
            f"{tensor!r} was not produced by a layer: functional models start from "
            "layers.Input(...) "
            "and are built by calling layers on its output"
        )
    return history


def has_history(tensor) -> bool:
    return getattr(tensor, "_layer_history", None) is not None


def _flatten_tensors(inputs) -> tuple[list, bool]:
    """Inputs of a call as a flat list, and whether they came as a list/tuple."""
    if isinstance(inputs, (list, tuple)):
        return list(inputs), True
    return [inputs], False


def _snake_case(name: str) -> str:
    """Keras' default names: ``BatchNormalization`` -> ``batch_normalization``."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


# ----------------------------------------------------------------------------- Layer


@dataclass
class _Weight:
    variable: SharedVariable
    regularizer: Any = None
    constraint: Any = None


class Layer:
    """Base class of every layer; subclass it and write ``build`` and ``call``.

    - ``build(input_shape)``: create weights with ``add_weight``; the shape
      is a tuple of ints/None (a list of them for several inputs).
    - ``call(inputs, training=None)``: the computation on symbolic tensors;
      accept ``training`` when the layer behaves differently in training.
    - ``get_config()``: the constructor arguments, JSON-serializable, so
      ``cls.from_config(layer.get_config())`` makes an equivalent layer.
    - ``add_update((shared, expression))`` inside ``call``: state updated
      after each training step (never in evaluate/predict).

    Masks (Keras' ``_keras_mask``): a tensor may carry a boolean mask of its
    leading (batch, time) axes.  A layer whose ``call`` accepts ``mask`` gets
    its first input's mask; its outputs get ``compute_mask(inputs, mask)``,
    which passes the mask on when ``supports_masking`` is true.
    """

    supports_masking = False

    def __init_subclass__(cls, **kwargs):
        """A subclass's ``build`` marks the layer built when it returns, as Keras 3's does, so that
        ``layer.build(shape)`` called by hand (then ``set_weights``) is not built again on the first
        call.  Its ``compute_mask`` called on arrays returns arrays (``ops.eager``), as
        ``embedding.compute_mask(padded_inputs)`` returns a tensor in Keras."""
        super().__init_subclass__(**kwargs)
        compute_mask = cls.__dict__.get("compute_mask")
        if compute_mask is not None and not getattr(compute_mask, "_eager", False):
            cls.compute_mask = ops.eager(compute_mask)
            cls.compute_mask._eager = True
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            @functools.wraps(build)
            def marked_build(self, *args, **build_kwargs):
                result = build(self, *args, **build_kwargs)
                self.built = True
                shape = args[0] if args else build_kwargs.get("input_shape")
                object.__setattr__(self, "_build_input_shape", shape)
                return result

            marked_build._marks_built = True
            cls.build = marked_build

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        dtype=None,
        input_shape: Sequence[int | None] | None = None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}"
            )
        self._init_tracking()
        self.name = name or _snake_case(type(self).__name__)
        self._auto_named = name is None
        self.trainable = bool(trainable)
        self.dtype = normalize_dtype(dtype or th.config.floatX)
        self.built = False
        self._declared_input_shape = None if input_shape is None else (None, *input_shape)
        self._inbound_nodes: list[Node] = []
        self._last_call_updates: list[tuple[SharedVariable, Variable]] = []
        self._last_call_losses: list[Variable] = []
        self._call_accepts_training = "training" in inspect.signature(self.call).parameters
        self._eager_functions = eager.EagerFunctions()
        self._call_accepts_mask = "mask" in inspect.signature(self.call).parameters

    def _init_tracking(self) -> None:
        if "_tracked_layers" not in self.__dict__:
            object.__setattr__(self, "_tracked_layers", [])
            object.__setattr__(self, "_weight_records", [])

    def __setattr__(self, name: str, value) -> None:
        """Track sublayers assigned as attributes (alone or in a list/tuple), and variables
        (``self.v = keras.Variable(...)``) as weights of this layer, as Keras 3 does."""
        self._init_tracking()
        if (not name.startswith("_") and isinstance(value, variables.Variable)
                and not any(record.variable is value for record in self._weight_records)):
            self._weight_records.append(_Weight(value))
        if not name.startswith("_"):
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if (
                    isinstance(item, Layer)
                    and item is not self
                    and not any(item is t for t in self._tracked_layers)
                ):
                    self._tracked_layers.append(item)
        object.__setattr__(self, name, value)

    # -- the contract subclasses implement --------------------------------------------------

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape``; the default has none."""

    def call(self, inputs, training=None):
        """The computation; the default is the identity."""
        return inputs

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs: the input's when ``supports_masking``, else None."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Static output shape(s), found by tracing ``call`` on placeholders."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        placeholders = [th.tensor(dtype=self.dtype, shape=tuple(s)) for s in shapes]
        self._maybe_build(placeholders, isinstance(input_shape, list))
        with call_context(training=False):
            outputs = self.call(placeholders if isinstance(input_shape, list) else placeholders[0])
        if isinstance(outputs, (list, tuple)):
            return [o.type.shape for o in outputs]
        return outputs.type.shape

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._declared_input_shape is not None:
            config["input_shape"] = list(self._declared_input_shape[1:])
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    # -- weights ------------------------------------------------------------------------------

    def add_weight(
        self,
        shape: Sequence[int] | None = None,
        initializer=None,
        dtype=None,
        trainable: bool = True,
        regularizer=None,
        constraint=None,
        name: str | None = None,
    ) -> SharedVariable:
        """Create a weight as a shared variable, initialized now, owned by this layer.

        Keras 3's signature and defaults: ``shape`` () is a scalar; the
        initializer is ``"glorot_uniform"`` for float weights and ``"zeros"``
        otherwise; an unnamed weight is ``variable``, ``variable_1``, ...
        """
        name = self._weight_name(name)
        shape = _weight_shape(shape, f"{self.name}.add_weight({name!r})")
        dtype = normalize_dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if is_float(dtype) else "zeros"
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        _charge_weight(nbytes, f"{self.name}.add_weight({name!r}) of shape {shape}")
        value = np.asarray(initializers.get(initializer)(shape, dtype), dtype=dtype)
        if value.shape != shape:
            raise ValueError(
                f"{self.name}.add_weight({name!r}): the initializer returned shape {value.shape}, "
                f"expected {shape}"
            )
        variable = variables.variable(value, name=f"{self.name}/{name}")
        variable.trainable = bool(trainable)
        self._weight_records.append(
            _Weight(
                variable,
                regularizers.get(regularizer),
                constraints.get(constraint),
            )
        )
        return variable

    # -- Keras' saving hooks (called by saving.py through layer_state.py) ----------------------

    def _own_variables(self) -> list[SharedVariable]:
        return [record.variable for record in self._weight_records]

    def save_own_variables(self, store: dict) -> None:
        """Keras' hook: put this layer's own weights in ``store`` ("0", "1", ...); a subclass adds
        state of its own (the model file keeps the weights anyway)."""
        for index, variable in enumerate(self._own_variables()):
            store[str(index)] = variable.get_value()

    def load_own_variables(self, store: dict) -> None:
        """Keras' hook: set this layer's own weights from what ``save_own_variables`` stored."""
        for index, variable in enumerate(self._own_variables()):
            if str(index) not in store:
                continue
            value = np.asarray(store[str(index)], dtype=variable.dtype)
            expected = variable.get_value(borrow=True).shape
            if value.shape != expected:
                raise ValueError(f"{self.name}.load_own_variables: entry {str(index)!r} has shape {value.shape}; "
                                 f"the weight {variable.name} has shape {expected}")
            variable.set_value(value)

    def get_build_config(self) -> dict | None:
        """Keras' hook: what ``build_from_config`` needs to build the layer again (by default the
        input shape ``build`` got); saved with the layer when its class overrides a build hook."""
        shape = self.__dict__.get("_build_input_shape")
        return None if shape is None else {"input_shape": _json_shape(shape)}

    def build_from_config(self, config: dict) -> None:
        """Keras' hook: build the layer from ``get_build_config``'s dict."""
        if config and config.get("input_shape") is not None:
            self.build(config["input_shape"])

    def save_assets(self, dir_path: str) -> None:
        """Keras' hook: write files (a vocabulary, ...) into ``dir_path``; the default writes none."""

    def load_assets(self, dir_path: str) -> None:
        """Keras' hook: read what ``save_assets`` wrote; the default reads nothing."""

    def _weight_name(self, name: str | None) -> str:
        """``name``, or the first free ``variable``/``variable_<k>`` among this layer's weights."""
        if name is not None:
            return str(name)
        taken = {r.variable.name.split("/", 1)[-1] for r in self._weight_records}
        candidate, k = "variable", 0
        while candidate in taken:
            k += 1
            candidate = f"variable_{k}"
        return candidate

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's weights (and BatchNormalization's statistics)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        """Set it here and, as in Keras, on every sublayer (a frozen model freezes its layers)."""
        initialised = "_trainable" in self.__dict__
        object.__setattr__(self, "_trainable", bool(value))
        if initialised:
            for layer in self._sublayers():
                layer.trainable = value

    def _sublayers(self) -> list[Layer]:
        """Direct sublayers whose weights this layer owns (attributes, or a model's graph)."""
        return list(self._tracked_layers)

    def _all_records(self, trainable_only: bool) -> list[_Weight]:
        """Own weight records then sublayers', unique, in creation/tracking order."""
        records: list[_Weight] = []
        seen: set[int] = set()
        pending: list[Layer] = [self]
        while pending:
            layer = pending.pop(0)
            if trainable_only and not layer.trainable:
                continue
            for record in layer._weight_records:
                if id(record.variable) not in seen:
                    seen.add(id(record.variable))
                    records.append(record)
            pending[0:0] = layer._sublayers()
        return records

    @property
    def weights(self) -> list[SharedVariable]:
        """Every weight (own, then sublayers'), in creation order."""
        return [r.variable for r in self._all_records(trainable_only=False)]

    @property
    def trainable_weights(self) -> list[SharedVariable]:
        """Weights that fit updates: trainable ones of trainable layers."""
        return [r.variable for r in self._all_records(trainable_only=True) if r.variable.trainable]

    @property
    def non_trainable_weights(self) -> list[SharedVariable]:
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    @property
    def variables(self) -> list[SharedVariable]:
        """Keras 3's name for ``weights``."""
        return self.weights

    @property
    def trainable_variables(self) -> list[SharedVariable]:
        """Keras 3's name for ``trainable_weights``."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[SharedVariable]:
        """Keras 3's name for ``non_trainable_weights``."""
        return self.non_trainable_weights

    def weight_constraints(self) -> dict[int, Any]:
        """``id(weight) -> constraint`` for every constrained weight."""
        return {
            id(r.variable): r.constraint
            for r in self._all_records(False)
            if r.constraint is not None
        }

    def get_weights(self) -> list[np.ndarray]:
        return [w.get_value() for w in self.weights]

    def set_weights(self, values: Sequence[np.ndarray]) -> None:
        """Assign weights in ``weights`` order; count, shapes and dtypes are checked."""
        weights = self.weights
        values = list(values)
        if len(values) != len(weights):
            raise ValueError(
                f"{self.name}.set_weights: expected {len(weights)} array(s) "
                f"({[w.name for w in weights]}), received {len(values)}"
            )
        for weight, value in zip(weights, values, strict=True):
            value = np.asarray(value)
            if value.shape != weight.get_value(borrow=True).shape:
                raise ValueError(
                    f"{self.name}.set_weights: weight {weight.name} has shape "
                    f"{weight.get_value(borrow=True).shape}, received an array of shape "
                    f"{value.shape}"
                )
            weight.set_value(value.astype(weight.dtype, copy=False))

    def count_params(self) -> int:
        return int(sum(w.get_value(borrow=True).size for w in self.weights))

    # -- losses and state updates -----------------------------------------------------------

    def add_update(self, update: tuple[SharedVariable, Variable]) -> None:
        """Inside ``call``: record a state update applied after each training step."""
        shared, expression = update
        if not isinstance(shared, SharedVariable):
            raise TypeError(
                f"{self.name}.add_update: the target must be a shared variable. Received: "
                f"{shared!r}"
            )
        context = current_call_context()
        if context is not None:
            context.updates.append((shared, expression))

    def add_loss(self, loss: Variable) -> None:
        """Inside ``call``: add a scalar term (e.g. an activity penalty) to the training loss."""
        context = current_call_context()
        if context is not None:
            context.losses.append(loss)

    @property
    def state_updates(self) -> list[tuple[SharedVariable, Variable]]:
        """Updates added during the last outermost call of this layer."""
        return list(self._last_call_updates)

    def weight_regularization_losses(self) -> list[Variable]:
        """One penalty term per regularized weight (own and sublayers')."""
        return [
            r.regularizer(r.variable) for r in self._all_records(False) if r.regularizer is not None
        ]

    @property
    def losses(self) -> list[Variable]:
        """Weight-regularization terms plus the losses added during the last call."""
        return self.weight_regularization_losses() + list(self._last_call_losses)

    # -- calling ------------------------------------------------------------------------------

    def __call__(self, inputs, *args, **kwargs):
        """Build if needed, then ``call`` on symbolic tensors (recording history at top level).

        On NumPy arrays the call runs eagerly and returns arrays (``eager.py``).
        """
        if eager.is_eager(inputs):
            return self._eager_functions.call(self, inputs, args, kwargs)
        given, is_list = _flatten_tensors(inputs)
        if current_call_context() is None:
            _record_operations([*given, *args, *kwargs.values()], self)
        flat = [self._autocast(t) for t in given]  # the call sees the cast tensors; history and masks
        self._maybe_build(flat, is_list)           # are the given ones'
        outer = current_call_context()
        training = kwargs.pop("training", None)
        explicit_training = training
        mask_input = _graph_mask(self, kwargs.get("mask"), given, outer is None)
        if training is None and outer is not None:
            training = outer.training
        if self._call_accepts_training:
            kwargs["training"] = training
        mask = kwargs.get("mask", getattr(given[0], "_keras_mask", None) if given else None)
        if self._call_accepts_mask and mask is not None:
            kwargs.setdefault("mask", mask)
        recorded = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        with call_context(training, outer is not None and outer.onnx_export) as context:
            outputs = self.call(flat if is_list else flat[0], *args, **kwargs)
        _attach_masks(outputs, self.compute_mask(flat if is_list else flat[0], mask))
        self._last_call_updates, self._last_call_losses = context.updates, context.losses
        if outer is not None:
            outer.absorb(context)
            return outputs
        return self._record_node(given, is_list, outputs, args, explicit_training, mask_input, recorded)

    def _autocast(self, tensor):
        """Cast float inputs to the layer's float dtype (integer inputs pass unchanged)."""
        if is_float(tensor.dtype) and tensor.dtype != self.dtype and is_float(self.dtype):
            return th.cast(tensor, self.dtype)
        return tensor

    def _maybe_build(self, flat: list, is_list: bool) -> None:
        if self.built:
            return
        shapes = [t.type.shape for t in flat]
        self.build(shapes if is_list else shapes[0])
        self.built = True

    def _record_node(self, flat: list, is_list: bool, outputs, args, training, mask_input=None,
                     keywords: dict | None = None):
        """At top level on tensors with history: add a Node and tag the outputs.  ``keywords``: the
        call's other keyword arguments; tensors become inputs of the node, plain values (bools,
        numbers, strings, None) its ``call_kwargs``, so that the model calls the layer the same way
        again (and saves how)."""
        keywords = keywords or {}
        tensors = {k: v for k, v in keywords.items() if isinstance(v, Variable)}
        if not flat or not all(has_history(t) for t in [*flat, *args, *tensors.values()]):
            return outputs
        out_list = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        out_list = [_with_mask_of(o, _fresh(o, flat)) for o in out_list]
        call_kwargs = {k: v for k, v in keywords.items()
                       if k not in tensors and (v is None or isinstance(v, (bool, int, float, str)))}
        if training is not None:
            call_kwargs["training"] = bool(training)
        extra = [] if mask_input is None else [mask_input]
        node = Node(self, flat + list(args) + list(tensors.values()) + extra, out_list, is_list, call_kwargs,
                    mask_input=bool(extra), positional=len(args), tensor_kwargs=tuple(tensors))
        self._inbound_nodes.append(node)
        for index, tensor in enumerate(out_list):
            tensor._layer_history = (self, len(self._inbound_nodes) - 1, index)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(out_list) if isinstance(outputs, tuple) else out_list
        return out_list[0]

    # -- description --------------------------------------------------------------------------

    @property
    def output(self):
        """The output tensor of the layer's only functional call."""
        outputs = self._only_node("output").outputs
        return outputs[0] if len(outputs) == 1 else outputs

    @property
    def input(self):
        """The input tensor (or list) of the layer's only functional call, as Keras' ``layer.input``."""
        node = self._only_node("input")
        return node.call_arguments(node.inputs)[0]

    def _only_node(self, what: str) -> Node:
        if len(self._inbound_nodes) != 1:
            raise AttributeError(
                f"layer {self.name!r} has {len(self._inbound_nodes)} functional calls; "
                f"its {what} is ambiguous (use the tensors of the calls)"
            )
        return self._inbound_nodes[0]

    def _rename(self, name: str) -> None:
        """Rename the layer and the labels of its own weights (models keep names unique)."""
        for record in self._weight_records:
            record.variable.name = f"{name}/{record.variable.name.split('/', 1)[-1]}"
        object.__setattr__(self, "name", name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _json_shape(shape):
    """A build shape as JSON data: tuples become lists (nested), ints and None stay."""
    if isinstance(shape, (list, tuple)):
        return [_json_shape(s) for s in shape]
    return None if shape is None else int(shape)


def _weight_shape(shape, where: str) -> tuple[int, ...]:
    """A weight shape as a tuple of ints >= 0 (None is a scalar)."""
    if shape is None:
        return ()
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        raise TypeError(
            f"{where}: shape must be a sequence of ints (add_weight takes shape first, as in "
            f"Keras 3; pass name=...). Received: shape={shape!r}"
        )
    checked = tuple(int(d) for d in shape)
    if any(d < 0 for d in checked):
        raise ValueError(f"{where}: shape must hold ints >= 0. Received: {checked}")
    return checked


def _record_operations(tensors: list, layer: Layer) -> None:
    """Before a functional call: each tensor computed by graph operations from tensors with history
    becomes the output of an automatic ``OperationLayer`` call (``operation.py``, which builds on
    this module), so the call is recorded and its masks flow."""
    from theanine.frontend.layers.operation import record_operations

    record_operations(tensors, f"the call of layer {layer.name!r}")


def _graph_mask(layer, mask, flat: list, top_level: bool):
    """The ``mask=`` tensor a functional call records as an input of its node (None if none).

    At top level on tensors with history, a symbolic mask must come from the graph too, or a
    model could not replay the call.
    """
    if not top_level or not isinstance(mask, Variable) or not flat or not all(has_history(t) for t in flat):
        return None
    if not has_history(mask):
        raise ValueError(
            f"layer {layer.name!r}: the mask given to a functional call must be a tensor of the model's "
            "graph (from layers.Input or a layer); compute it in a layer's call"
        )
    return mask


def _attach_masks(outputs, masks) -> None:
    """Give each output without a mask of its own the mask computed for it (one, or one each)."""
    out_list = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    mask_list = list(masks) if isinstance(masks, (list, tuple)) else [masks] * len(out_list)
    for tensor, mask in zip(out_list, mask_list, strict=False):
        if mask is not None and isinstance(tensor, Variable) and getattr(tensor, "_keras_mask", None) is None:
            tensor._keras_mask = mask


def _with_mask_of(original, tensor):
    """``tensor`` carrying ``original``'s mask (an identity copy made for the history)."""
    if tensor is not original and getattr(original, "_keras_mask", None) is not None:
        tensor._keras_mask = original._keras_mask
    return tensor


def _fresh(output, inputs: list):
    """``output`` itself, or an identity copy when it is an input or already has history.

    A layer that returns its input unchanged (Dropout at inference) must not
    overwrite the history of the input tensor.
    """
    if any(output is t for t in inputs) or has_history(output):
        return th.dimshuffle(output, tuple(range(output.ndim)))
    return output


# ----------------------------------------------------------------------------- Input


@register_layer
class InputLayer(Layer):
    """The source of a functional graph: it holds one symbolic input tensor."""

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype=None,
        name: str | None = None,
        batch_shape: Sequence[int | None] | None = None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer needs shape=(...) (without the batch dimension)")
            batch_shape = (batch_size, *shape)
        self.batch_shape = _checked_batch_shape(batch_shape)
        tensor = th.tensor(self.name, self.dtype, self.batch_shape)
        tensor._layer_history = (self, 0, 0)
        self._inbound_nodes.append(Node(self, [], [tensor]))
        self.built = True

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}

    def _rename(self, name: str) -> None:
        super()._rename(name)
        self._inbound_nodes[0].outputs[0].name = name


def _checked_batch_shape(batch_shape) -> tuple[int | None, ...]:
    checked = tuple(batch_shape)
    for dim in checked:
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 0):
            raise ValueError(
                f"Input shape entries must be ints >= 0 or None. Received: shape={checked[1:]}"
            )
    return tuple(None if d is None else int(d) for d in checked)


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype=None,
    name: str | None = None,
    batch_shape: Sequence[int | None] | None = None,
) -> TensorVariable:
    """A symbolic model input of ``shape`` (without the batch dimension), as in Keras.

    ``layers.Input(shape=(64,))`` is a float32 tensor of static shape
    ``(None, 64)`` whose history points at a new ``InputLayer``.
    """
    layer = InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape
    )
    return layer._inbound_nodes[0].outputs[0]


def describe_shape(shape) -> str:
    """Keras-style text of a static shape: ``(None, 128)``."""
    if isinstance(shape, list):
        return ", ".join(describe_shape(s) for s in shape)
    return format_shape(tuple(shape)).replace("?", "None")

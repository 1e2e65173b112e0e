"""Keras' core ops: tensors and dtypes, control flow, slices and scatters.

Control flow takes Python callables, as Keras does.  On symbolic tensors
``cond`` and ``switch`` become lazy ``th.ifelse`` nodes, and ``scan``,
``map``, ``fori_loop``, ``while_loop`` and ``vectorized_map`` one
``th.scan`` loop (compiled natively by the LLVM backend); the callables are
traced once on symbolic placeholders, so they must build graph with
``keras.ops`` (which they do when written for Keras).  On arrays the same
loop graph is evaluated at once, except ``while_loop`` without
``maximum_iterations``, which runs as a Python loop as Keras' NumPy backend
does (its length is unbounded).  Loop states are nests of lists, tuples
and dicts of tensors; a state the body returns in another dtype is cast
back to the initial value's dtype (JAX's weak-type behaviour for Python
numbers).
"""

from __future__ import annotations

import builtins
import re
import warnings
from collections.abc import Callable

import numpy as np

import theanine as th
from theanine.frontend.ops.eager import eager, evaluated, flatten, is_symbolic, pack_as
from theanine.graph.basic import Variable
from theanine.graph.ops.custom_gradient import GradientOverride

__all__ = [
    "shape", "ndim", "convert_to_numpy", "convert_to_tensor", "array", "cast", "one_hot", "cond",
    "is_tensor", "dtype", "saturate_cast", "get_item", "unstack", "switch", "scan", "map",
    "fori_loop", "while_loop", "associative_scan", "vectorized_map", "vectorize", "slice",
    "slice_update", "scatter", "scatter_update", "custom_gradient",
]

WHILE_STEPS = 2**31 - 1
"""The step bound of a symbolic ``while_loop`` without ``maximum_iterations`` (it stops on its condition)."""


def shape(x) -> tuple:
    """The shape of ``x`` as a tuple: ints where known, symbolic scalars for dims known at run time."""
    if not isinstance(x, Variable):
        return tuple(np.shape(x))
    return tuple(dim if dim is not None else x.shape[i] for i, dim in enumerate(x.type.shape))


def ndim(x) -> int:
    """The rank of ``x``."""
    return x.ndim if isinstance(x, Variable) else np.ndim(x)


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array; a symbolic tensor must not depend on graph inputs (it is evaluated)."""
    return evaluated(x) if isinstance(x, Variable) else np.asarray(x)


array = convert_to_tensor = eager(th.convert_to_tensor)


def is_tensor(x) -> bool:
    """Whether ``x`` is a tensor of this backend: a graph variable or a NumPy array."""
    return isinstance(x, (Variable, np.ndarray, np.generic))


def dtype(x) -> str:
    """The dtype name of ``x`` ("float32", ...)."""
    return x.dtype if isinstance(x, Variable) else np.asarray(x).dtype.name


@eager
def cast(x, dtype):
    """``x`` in ``dtype``.  A Python bool here is almost always ``a == b`` written on two tensors,
    which Python answers by identity (theanine keeps Theano's ``==``): that is warned about, with
    ``ops.equal`` as the elementwise comparison."""
    if isinstance(x, bool):
        warnings.warn(
            "ops.cast received a Python bool: `a == b` (or `!=`) on two tensors compares them as objects, "
            "not elementwise; use ops.equal(a, b) / ops.not_equal(a, b)",
            UserWarning,
            stacklevel=3,
        )
    return th.cast(x, dtype)


@eager
def saturate_cast(x, dtype):
    """``x`` in ``dtype``, values first clipped to the range ``dtype`` can hold (Keras'
    ``saturate_cast``: no integer wrap-around, no float overflow to inf)."""
    x = th.as_tensor_variable(x)
    target = np.dtype(dtype)
    if target.kind == "b" or x.dtype == "bool":
        return th.cast(x, target.name)
    low, high = _saturation_bounds(np.dtype(x.dtype), target)
    return th.cast(th.clip(x, th.constant(low), th.constant(high)), target.name)


def _saturation_bounds(source: np.dtype, target: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The range of ``target`` as values of ``source``, rounded inwards where ``source`` cannot
    hold the bound exactly (float32 has no 2**31 - 1)."""
    info = np.iinfo(target) if target.kind in "iu" else np.finfo(target)
    if source.kind in "iu":
        own = np.iinfo(source)
        low, high = builtins.max(int(own.min), int(np.ceil(info.min))), builtins.min(int(own.max), int(info.max))
        return np.asarray(low, source), np.asarray(high, source)
    exact_low, exact_high = np.asarray(info.min).item(), np.asarray(info.max).item()  # compared exactly
    low, high = np.asarray(exact_low, source), np.asarray(exact_high, source)
    if low.item() < exact_low:
        low = np.nextafter(low, np.asarray(0, source))
    if high.item() > exact_high:
        high = np.nextafter(high, np.asarray(0, source))
    return low, high


@eager
def one_hot(x, num_classes: int, axis: int = -1, dtype=None):
    """Keras' ``ops.one_hot``: a new axis ``axis`` of ``num_classes`` entries, 1 at each index."""
    encoded = th.one_hot(x, num_classes, dtype)
    return encoded if axis in (-1, encoded.ndim - 1) else th.moveaxis(encoded, -1, axis)


@eager
def get_item(x, key):
    """``x[key]`` (Keras' ``get_item``)."""
    return th.as_tensor_variable(x)[key]


@eager
def unstack(x, num=None, axis: int = 0) -> list:
    """The slices of ``x`` along ``axis`` (whose size must be static), as a list."""
    x = th.as_tensor_variable(x)
    size = x.type.shape[axis]
    if size is None:
        size = num
    if size is None:
        raise ValueError(f"unstack: axis {axis} of {x.type} has no static size; pass num=")
    if num is not None and num != size:
        raise ValueError(f"unstack: num={num} but axis {axis} of {x.type} has size {size}")
    index = [builtins.slice(None)] * x.ndim
    parts = []
    for i in range(size):
        index[axis] = i
        parts.append(x[tuple(index)])
    return parts


# ----------------------------------------------------------------------------- branches


def _check_callable(what: str, **functions) -> None:
    for name, fn in functions.items():
        if not callable(fn):
            raise TypeError(f"ops.{what}: {name} must be callable. Received: {name}={fn!r}")


def _branch(pred, then_value, else_value):
    """``th.ifelse`` over two equally nested values."""
    then_leaves, else_leaves = flatten(then_value), flatten(else_value)
    if len(then_leaves) != len(else_leaves):
        raise ValueError(
            f"the branches return different structures: {len(then_leaves)} and {len(else_leaves)} tensors"
        )
    chosen = th.ifelse(pred, then_leaves, else_leaves)
    return pack_as(then_value, chosen if isinstance(chosen, list) else [chosen])


def cond(pred, true_fn: Callable, false_fn: Callable):
    """``true_fn()`` where ``pred`` holds, else ``false_fn()`` (Keras' ``ops.cond``): a lazy
    ``th.ifelse`` for a symbolic ``pred``, a Python branch for a value."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("ops.cond: true_fn and false_fn must be callables taking no arguments")
    if not isinstance(pred, Variable):
        return true_fn() if bool(np.asarray(pred)) else false_fn()
    return _branch(pred, true_fn(), false_fn())


def switch(index, branches, *operands):
    """``branches[index](*operands)``, ``index`` clipped to the branches (Keras' ``ops.switch``)."""
    if not branches:
        raise ValueError("ops.switch: branches must be a non-empty list of callables")
    _check_callable("switch", **{f"branches[{i}]": b for i, b in enumerate(branches)})
    if not isinstance(index, Variable):
        return branches[int(np.clip(np.asarray(index), 0, len(branches) - 1))](*operands)
    if index.ndim != 0:
        raise ValueError(f"ops.switch: index must be a scalar. Received: {index.type}")
    index = th.clip(th.cast(index, "int64"), 0, len(branches) - 1)
    result = branches[-1](*operands)
    for i in range(len(branches) - 2, -1, -1):
        result = _branch(th.eq(index, i), branches[i](*operands), result)
    return result


# ----------------------------------------------------------------------------- loops


def _placeholder_like(value: Variable) -> Variable:
    return th.TensorType(value.dtype, value.type.shape)()


def _cast_like(values: list, like: list) -> list:
    return [th.cast(v, w.dtype) if th.as_tensor_variable(v).dtype != w.dtype else th.as_tensor_variable(v)
            for v, w in zip(values, like, strict=True)]


def _check_state(what: str, returned: list, init: list) -> None:
    if len(returned) != len(init):
        raise ValueError(
            f"ops.{what}: the body returned {len(returned)} state tensor(s) but the initial state has {len(init)}"
        )


def _run_scan(f, init, xs, length, reverse: bool):
    """``scan`` on graph variables: one ``th.scan`` whose outputs are the carries and the ys."""
    init_leaves = [th.as_tensor_variable(v) for v in flatten(init)]
    xs_leaves = [] if xs is None else [th.as_tensor_variable(v) for v in flatten(xs)]
    x_types = [th.TensorType(x.dtype, x.type.shape[1:]) for x in xs_leaves]

    def traced(carry_leaves, x_leaves):
        carry = pack_as(init, carry_leaves)
        x = None if xs is None else pack_as(xs, x_leaves)
        result = f(carry, x)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError(f"ops.scan: f must return a pair (carry, y). Received: {result!r}")
        new_carry, y = result
        new_leaves = flatten(new_carry)
        _check_state("scan", new_leaves, carry_leaves)
        return _cast_like(new_leaves, init_leaves), y

    _, y_probe = traced([_placeholder_like(v) for v in init_leaves], [t() for t in x_types])
    n_y = 0 if y_probe is None else len(flatten(y_probe))

    def step(*args):
        x_leaves, carry_leaves = args[: len(xs_leaves)], args[len(xs_leaves):]
        new_carry, y = traced(list(carry_leaves), list(x_leaves))
        return new_carry + ([] if y is None else [th.as_tensor_variable(v) for v in flatten(y)])

    outputs, _ = th.scan(step, sequences=xs_leaves or None, outputs_info=init_leaves + [None] * n_y,
                         n_steps=length, go_backwards=reverse, return_list=True)
    carry = pack_as(init, [o[-1] for o in outputs[: len(init_leaves)]])
    ys = [o[::-1] if reverse else o for o in outputs[len(init_leaves):]]
    return carry, (None if y_probe is None else pack_as(y_probe, ys))


@eager
def scan(f: Callable, init, xs=None, length=None, reverse: bool = False, unroll=1):
    """Keras' ``ops.scan`` (``jax.lax.scan``): ``carry, y = f(carry, x)`` over the leading axis of
    ``xs`` (or ``length`` steps); returns the last carry and the stacked ys."""
    _check_callable("scan", f=f)
    if xs is None and length is None:
        raise ValueError("ops.scan: got no xs to scan over and length is not given")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"ops.scan: unroll must be a positive int or a bool. Received: unroll={unroll!r}")
    return _run_scan(f, init, xs, length, reverse)


@eager
def map(f: Callable, xs):
    """``f`` applied to each slice of ``xs`` along its first axis, the results stacked (``ops.map``)."""
    _check_callable("map", f=f)
    return _run_scan(lambda carry, x: (carry, f(x)), [], xs, None, False)[1]


@eager
def vectorized_map(function: Callable, elements):
    """``function`` applied to each slice of ``elements`` along the first axis, stacked.  A list or
    tuple of tensors is sliced together and passed as a list (Keras' ``vectorized_map``)."""
    _check_callable("vectorized_map", function=function)
    if isinstance(elements, (list, tuple)):
        return _run_scan(lambda carry, x: (carry, function(list(x))), [], list(elements), None, False)[1]
    return _run_scan(lambda carry, x: (carry, function(x)), [], elements, None, False)[1]


def _parse_signature(signature: str | None, n_args: int) -> tuple[list[list[str]], list[list[str]] | None]:
    """NumPy's gufunc signature ``"(m,n),(n)->(m)"`` as core dimension names per input and output."""
    if signature is None:
        return [[] for _ in range(n_args)], None
    match = re.fullmatch(r"\s*(.*?)\s*->\s*(.*?)\s*", signature)
    if match is None:
        raise ValueError(f"ops.vectorize: signature must look like '(m,n),(n)->(m)'. Received: {signature!r}")

    def groups(side: str) -> list[list[str]]:
        return [[d for d in g.replace(" ", "").split(",") if d] for g in re.findall(r"\(([^)]*)\)", side)]

    return groups(match.group(1)), groups(match.group(2))


def vectorize(pyfunc: Callable, *, excluded=None, signature=None):
    """Keras' ``ops.vectorize`` (``np.vectorize``): ``pyfunc`` applied over the broadcast loop
    dimensions of its tensor arguments, each call seeing the core dimensions of ``signature``
    (scalars without one); ``excluded`` positions are passed through.  One loop (``map``) runs
    over the flattened loop dimensions."""
    _check_callable("vectorize", pyfunc=pyfunc)
    excluded = set(excluded or ())

    def vectorized(*args):
        mapped = [i for i in range(len(args)) if i not in excluded]
        cores, out_cores = _parse_signature(signature, len(mapped))
        if len(cores) != len(mapped):
            raise ValueError(f"ops.vectorize: the signature {signature!r} has {len(cores)} inputs for "
                             f"{len(mapped)} tensor arguments")
        tensors = [th.as_tensor_variable(args[i]) for i in mapped]
        ranks = [t.ndim - len(core) for t, core in zip(tensors, cores, strict=True)]
        loop = _loop_shape(tensors, ranks)
        flat = [th.reshape(th.broadcast_to(t, loop + shape(t)[r:]) if shape(t)[:r] != loop else t,
                           (-1, *shape(t)[r:])) for t, r in zip(tensors, ranks, strict=True)]

        def call(values):
            full = list(args)
            for i, value in zip(mapped, values, strict=True):
                full[i] = value
            return pyfunc(*full)

        result = _run_scan(lambda carry, x: (carry, call(x)), [], flat, None, False)[1]
        return pack_as(result, [th.reshape(leaf, loop + shape(leaf)[1:]) for leaf in flatten(result)])

    return eager(vectorized)


def _loop_shape(tensors: list, ranks: list[int]) -> tuple:
    """The broadcast loop dimensions: NumPy's rule for static sizes; with unknown sizes the loop
    dimensions of the highest-rank argument (the others must match it at run time)."""
    loops = [t.type.shape[:r] for t, r in zip(tensors, ranks, strict=True)]
    if not builtins.any(None in loop for loop in loops):
        return tuple(np.broadcast_shapes(*loops))
    widest = builtins.max(range(len(tensors)), key=lambda i: ranks[i])
    return shape(tensors[widest])[: ranks[widest]]


@eager
def fori_loop(lower, upper, body_fun: Callable, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)`` (Keras' ``fori_loop``)."""
    _check_callable("fori_loop", body_fun=body_fun)
    counter = th.arange(th.cast(lower, "int64"), th.cast(upper, "int64"), dtype="int64") if is_symbolic(
        (lower, upper)) else th.constant(np.arange(int(lower), int(upper), dtype="int64"))
    return _run_scan(lambda val, i: (body_fun(i, val), None), init_val, counter, None, False)[0]


def _as_state(loop_vars) -> tuple:
    return tuple(loop_vars) if isinstance(loop_vars, (tuple, list)) else (loop_vars,)


def while_loop(cond: Callable, body: Callable, loop_vars, maximum_iterations=None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (Keras' ``while_loop``), at most
    ``maximum_iterations`` times."""
    _check_callable("while_loop", cond=cond, body=body)
    is_sequence = isinstance(loop_vars, (tuple, list))
    if is_symbolic(loop_vars) or is_symbolic(maximum_iterations) or maximum_iterations is not None:
        result = _symbolic_while(cond, body, _as_state(loop_vars), maximum_iterations)
        result = result if is_symbolic((loop_vars, maximum_iterations)) else evaluated(result)
    else:
        result = _python_while(cond, body, _as_state(loop_vars))
    return result if is_sequence else result[0]


def _python_while(cond: Callable, body: Callable, state: tuple) -> tuple:
    state = tuple(evaluated(convert_to_tensor(v)) if not isinstance(v, (list, tuple, dict)) else v for v in state)
    while bool(np.asarray(evaluated(cond(*state)))):
        state = _as_state(evaluated(body(*state)))
    return state


def _symbolic_while(cond: Callable, body: Callable, state: tuple, maximum_iterations) -> tuple:
    """One ``th.scan`` with a ``th.until``: each step runs the body where the condition holds and
    stops once it no longer does, so the loop runs the body exactly as often as a Python while."""
    leaves = [th.as_tensor_variable(v) for v in flatten(state)]

    def step(*current):
        values = pack_as(state, list(current))
        running = _scalar_condition(cond(*values))
        advanced = flatten(_as_state(body(*values)))
        _check_state("while_loop", advanced, leaves)
        new = th.ifelse(running, _cast_like(advanced, leaves), list(current))
        new = new if isinstance(new, list) else [new]
        again = th.logical_and(running, _scalar_condition(cond(*pack_as(state, new))))
        return new, th.until(th.logical_not(again))

    steps = WHILE_STEPS if maximum_iterations is None else th.maximum(th.cast(maximum_iterations, "int64"), 1)
    outputs, _ = th.scan(step, outputs_info=leaves, n_steps=steps, return_list=True)
    finals = [o[-1] for o in outputs]
    if maximum_iterations is not None:
        # zero allowed iterations: the single step above must not count
        finals = th.ifelse(th.gt(maximum_iterations, 0), finals, leaves)
        finals = finals if isinstance(finals, list) else [finals]
    return pack_as(state, finals)


def _scalar_condition(value):
    value = th.as_tensor_variable(value)
    if value.ndim != 0:
        raise ValueError(f"ops.while_loop: cond must return a scalar. Received: {value.type}")
    return value if value.dtype == "bool" else th.neq(value, 0)


@eager
def associative_scan(f: Callable, elems, reverse: bool = False, axis: int = 0):
    """Inclusive prefix combination of ``elems`` along ``axis`` with the associative ``f`` (Keras'
    ``associative_scan``), computed sequentially by one loop: ``out[i] = f(out[i-1], elems[i])``."""
    _check_callable("associative_scan", f=f)
    leaves = [th.as_tensor_variable(v) for v in flatten(elems)]
    sizes = {v.type.shape[axis] for v in leaves}
    if len(sizes) > 1 and None not in sizes:
        raise ValueError(f"ops.associative_scan: the inputs differ in size along axis {axis}: {sorted(sizes)}")
    moved = [th.moveaxis(v, axis, 0) for v in leaves]
    if reverse:
        moved = [v[::-1] for v in moved]
    first = [v[0] for v in moved]

    def combine(carry, x):
        out = flatten(f(pack_as(elems, carry), pack_as(elems, x)))
        out = _cast_like(out, carry)
        return out, out

    _, rest = _run_scan(combine, first, [v[1:] for v in moved], None, False)
    stacked = [th.concatenate([th.expand_dims(a, 0), b], axis=0) for a, b in zip(first, rest, strict=True)]
    if reverse:
        stacked = [v[::-1] for v in stacked]
    return pack_as(elems, [th.moveaxis(v, 0, axis) for v in stacked])


# ----------------------------------------------------------------------------- slices and scatters


def _starts(start_indices, rank: int, what: str) -> list:
    starts = list(start_indices) if not isinstance(start_indices, Variable) else [
        start_indices[i] for i in range(rank)]
    if len(starts) != rank:
        raise ValueError(f"ops.{what}: start_indices has {len(starts)} entries for a tensor of rank {rank}")
    return starts


@eager
def slice(inputs, start_indices, shape):
    """The block of ``inputs`` of size ``shape`` starting at ``start_indices`` (Keras' ``ops.slice``)."""
    x = th.as_tensor_variable(inputs)
    starts = _starts(start_indices, x.ndim, "slice")
    if len(shape) != x.ndim:
        raise ValueError(f"ops.slice: shape {tuple(shape)} has {len(shape)} entries for a tensor of rank {x.ndim}")
    return x[tuple(builtins.slice(s, s + n) for s, n in zip(starts, shape, strict=True))]


@eager
def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates`` (Keras' ``slice_update``)."""
    x, updates = th.as_tensor_variable(inputs), th.as_tensor_variable(updates)
    if updates.ndim != x.ndim:
        raise ValueError(f"ops.slice_update: updates of rank {updates.ndim} for inputs of rank {x.ndim}")
    starts = _starts(start_indices, x.ndim, "slice_update")
    sizes = shape(updates)
    block = tuple(builtins.slice(s, s + n) for s, n in zip(starts, sizes, strict=True))
    return th.set_subtensor(x[block], th.cast(updates, x.dtype))


def _index_tuple(indices, what: str):
    indices = th.as_tensor_variable(indices)
    if indices.ndim == 0 or indices.type.shape[-1] is None:
        raise ValueError(f"ops.{what}: indices must have a static last dimension (the index depth). "
                         f"Received: {indices.type}")
    return indices, tuple(indices[..., k] for k in range(indices.type.shape[-1]))


@eager
def scatter(indices, values, shape):
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` (Keras' ``ops.scatter``;
    repeated indices accumulate)."""
    values = th.as_tensor_variable(values)
    _, index = _index_tuple(indices, "scatter")
    return th.inc_subtensor(th.zeros(shape, dtype=values.dtype)[index], values)


_REDUCTIONS = {"add": "inc", "max": th.maximum, "min": th.minimum, "mul": th.multiply}


@eager
def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with ``updates`` written at ``indices`` (Keras' ``scatter_update``); ``reduction``
    "add" accumulates repeated indices, "max", "min" and "mul" combine with the current value
    (each index once)."""
    x = th.as_tensor_variable(inputs)
    updates = th.cast(updates, x.dtype)
    _, index = _index_tuple(indices, "scatter_update")
    if reduction is None:
        return th.set_subtensor(x[index], updates)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ops.scatter_update: unsupported reduction {reduction!r}; expected one of "
                         f"{sorted(_REDUCTIONS)} or None")
    if reduction == "add":
        return th.inc_subtensor(x[index], updates)
    return th.set_subtensor(x[index], _REDUCTIONS[reduction](x[index], updates))


def custom_gradient(f: Callable) -> Callable:
    """Keras' ``ops.custom_gradient``: ``f(*args)`` returns ``(value, grad_fn)`` and ``grad_fn(upstream)``
    (one upstream gradient per output) returns the gradient of each tensor argument.  On symbolic
    tensors the value's graph is not differentiated: ``grad_fn`` is (``GradientOverride``); on
    arrays the value is returned."""
    _check_callable("custom_gradient", f=f)

    def wrapped(*args, **kwargs):
        value, grad_fn = f(*args, **kwargs)
        _check_callable("custom_gradient", grad_fn=grad_fn)
        tensors = [a for a in args if isinstance(a, Variable)]
        if not tensors:
            return value
        leaves = [th.as_tensor_variable(v) for v in flatten(value)]

        def upstream(*grads):
            return grad_fn(*grads) if _takes_positional(grad_fn) else grad_fn(upstream=grads[0])

        outs = GradientOverride(upstream, len(tensors)).apply(*tensors, *leaves).outputs
        return pack_as(value, list(outs))

    return wrapped


def _takes_positional(fn: Callable) -> bool:
    """Whether ``fn`` takes the upstream gradient positionally (Keras' JAX-style ``grad(*args, upstream=None)``
    functions are called with ``upstream=`` when they take no positional parameter)."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return builtins.any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                        for p in parameters)

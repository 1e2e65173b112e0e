"""ONNX-ML (domain ``ai.onnx.ml``) ops on tensors: Binarizer, ArrayFeatureExtractor, TreeEnsemble, LabelEncoder.

Their rules are registered as ``"ai.onnx.ml.<op>"`` (the reader looks ops of
that domain up so, so that no default-domain rule answers for them).
A TreeEnsemble is static structure, so it is unrolled at import: each node's
test is an elementwise comparison of one feature column (NaN goes the true
way where ``nodes_missing_value_tracks_true`` says so; a MEMBER node tests
membership of its set, the values up to the next NaN of
``membership_values``), each leaf's indicator the conjunction of the tests on
its path, and the targets the leaves' weights summed (averaged, or the
minimum / maximum) over the leaves reached, as onnx's reference computes.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.onnx import graph_api as th
from theanine.codegen.onnx.reader import Unsupported, imports

ML = "ai.onnx.ml."
COMPARISONS = {0: th.less_equal, 1: th.less, 2: th.greater_equal, 3: th.greater, 4: th.equal, 5: th.not_equal}


@imports(ML + "Binarizer")
def _binarizer(ctx, node, args, attrs):
    x = args[0]
    return [th.cast(th.greater(x, attrs.get("threshold", 0.0)), x.dtype)]


@imports(ML + "ArrayFeatureExtractor")
def _array_feature_extractor(ctx, node, args, attrs):
    x, indices = args
    return [th.take(x, th.flatten(th.cast(indices, "int64")), axis=x.ndim - 1)]


def _values(attrs, name):
    """An attribute given as a list or as a tensor (``<name>`` or ``<name>_as_tensor``), as an array."""
    from onnx import numpy_helper

    value = attrs.get(name, attrs.get(f"{name}_as_tensor"))
    if value is None:
        return None
    return numpy_helper.to_array(value) if hasattr(value, "data_type") else np.asarray(value)


@imports(ML + "TreeEnsemble")
def _tree_ensemble(ctx, node, args, attrs):
    x = args[0]
    if attrs.get("post_transform", 0):
        raise Unsupported(f"post_transform={attrs['post_transform']} (only NONE)")
    aggregate = attrs.get("aggregate_function", 1)
    if aggregate not in (0, 1, 2, 3):
        raise Unsupported(f"aggregate_function={aggregate}")
    splits, modes = _values(attrs, "nodes_splits"), _values(attrs, "nodes_modes")
    features = attrs["nodes_featureids"]
    true_ids, false_ids = attrs["nodes_truenodeids"], attrs["nodes_falsenodeids"]
    true_leaf, false_leaf = attrs["nodes_trueleafs"], attrs["nodes_falseleafs"]
    missing = attrs.get("nodes_missing_value_tracks_true") or [0] * len(features)
    leaf_targets, leaf_weights = attrs["leaf_targetids"], _values(attrs, "leaf_weights")
    member_values = _values(attrs, "membership_values")
    sets = np.split(member_values, np.flatnonzero(np.isnan(member_values)) + 1) if member_values is not None else []
    member_nodes = [i for i, mode in enumerate(modes) if mode == 6]  # the sets follow node order, NaN-closed
    member_sets = {i: [float(v) for v in values if not np.isnan(v)] for i, values in zip(member_nodes, sets,
                                                                                          strict=False)}
    tests = {}

    def test(i):
        if i not in tests:
            column = x[:, features[i]]
            if modes[i] == 6:
                hit = th.zeros_like(column, dtype="bool")
                for value in member_sets[i]:
                    hit = th.logical_or(hit, th.equal(column, value))
            elif modes[i] in COMPARISONS:
                hit = COMPARISONS[int(modes[i])](column, splits[i])
            else:
                raise Unsupported(f"node mode {modes[i]}")
            tests[i] = th.logical_or(hit, th.isnan(column)) if missing[i] else hit
        return tests[i]

    reached = []  # (leaf index, indicator)

    def walk(i, path):
        for branch, child, is_leaf in ((True, true_ids[i], true_leaf[i]), (False, false_ids[i], false_leaf[i])):
            taken = test(i) if branch else th.logical_not(test(i))
            condition = taken if path is None else th.logical_and(path, taken)
            if is_leaf:
                reached.append((child, condition))
            else:
                walk(child, condition)

    roots = attrs["tree_roots"]
    for root in roots:
        if true_leaf[root] and false_leaf[root] and true_ids[root] == false_ids[root]:
            reached.append((true_ids[root], th.ones_like(x[:, 0], dtype="bool")))
        else:
            walk(root, None)
    n_targets, dtype = attrs["n_targets"], x.dtype
    leaves = [leaf for leaf, _ in reached]
    hits = th.stack([c for _, c in reached], axis=1)  # (batch, reached leaves)
    table = np.zeros((len(leaves), n_targets))
    table[np.arange(len(leaves)), [leaf_targets[k] for k in leaves]] = [leaf_weights[k] for k in leaves]
    if aggregate in (0, 1):
        out = th.matmul(th.cast(hits, "float64"), th.constant(table))
        return [th.cast(out / len(roots) if aggregate == 0 else out, dtype)]
    bound = np.finfo(dtype).max if aggregate == 2 else np.finfo(dtype).min
    targets = np.zeros((len(leaves), n_targets), bool)
    targets[np.arange(len(leaves)), [leaf_targets[k] for k in leaves]] = True
    chosen = th.logical_and(th.expand_dims(hits, -1), th.constant(targets))
    candidates = th.where(chosen, th.constant(table), bound)
    out = th.min(candidates, axis=1) if aggregate == 2 else th.max(candidates, axis=1)
    return [th.cast(out, dtype)]


LABEL_DEFAULTS = {"strings": ("default_string", "_Unused", "object"), "int64s": ("default_int64", -1, "int64"),
                  "floats": ("default_float", -0.0, "float32")}
"""values_<kind> -> (its default's attribute, ONNX's default value, the output dtype)."""


def _label_table(attrs):
    """``(keys, values, default)`` of a LabelEncoder, each an array (the default 0-d)."""
    kind = next((k for k in LABEL_DEFAULTS if f"values_{k}" in attrs), None)
    keys = next((_values(attrs, f"keys_{k}") for k in ("strings", "int64s", "floats", "tensor")
                 if f"keys_{k}" in attrs), None)
    if keys is None or (kind is None and "values_tensor" not in attrs):
        raise Unsupported("LabelEncoder needs keys_* and values_* attributes")
    if kind is None:
        values = _values(attrs, "values_tensor")
        default = _values(attrs, "default_tensor").reshape(())
    else:
        name, fallback, dtype = LABEL_DEFAULTS[kind]
        values = np.asarray(attrs[f"values_{kind}"], dtype=dtype)
        default = np.asarray(attrs.get(name, fallback), dtype=dtype)
    return keys.ravel().astype(object) if keys.dtype.kind == "U" else keys.ravel(), values.ravel(), default


@imports(ML + "LabelEncoder")
def _label_encoder(ctx, node, args, attrs):
    """Each key's value, the default elsewhere: one selection per key (a later equal key wins, as in
    onnx's reference); a NaN key matches NaN."""
    x = args[0]
    keys, values, default = _label_table(attrs)
    if (keys.dtype.kind == "O") != (x.dtype == "object"):
        raise Unsupported(f"LabelEncoder keys of dtype {keys.dtype} for an input of dtype {x.dtype}")
    out = th.second(x, th.constant(default))
    for key, value in zip(keys, values, strict=True):
        hit = th.isnan(x) if keys.dtype.kind == "f" and np.isnan(key) else th.equal(x, th.constant(key))
        out = th.where(hit, th.constant(np.asarray(value, dtype=default.dtype)), out)
    return [out]

"""Keras' ``utils.FeatureSpace``: one object that turns a dict of raw columns into model inputs.

Each feature names a preprocessing (Keras' presets: "float", "float_normalized",
"float_rescaled", "float_discretized", "integer_categorical",
"string_categorical", "integer_hashed", "string_hashed", or a ``Feature`` made
by the class methods), optionally crossed with others (``HashedCrossing``).
``adapt(data)`` fits the adaptable preprocessors (normalization statistics,
vocabularies, bin boundaries) on a dict of arrays or on an iterable of dict
batches; ``feature_space(data)`` then preprocesses a dict of arrays on the
host, one-hot encodes the categorical outputs ("one_hot" features become
multi-hot rows of their cardinality, as Keras') and returns the features
concatenated in sorted-name order (crosses after the features) as float32,
or a dict (``output_mode="dict"``).

theanine's graphs hold no strings, so the preprocessing runs on arrays, not in
a model: ``get_encoded_features()`` gives the ``Input`` of the encoded
features (the input of Keras' "training model") and ``get_inputs()`` raises
with that reason (Keras' end-to-end "inference model" needs string tensors).
Saving a FeatureSpace with its adapted state is not provided.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from theanine.frontend import layers

__all__ = ["FeatureSpace", "Feature", "Cross"]

_FEATURE_MODES = ("int", "one_hot", "float")


class Cross:
    """Features hashed together into ``crossing_dim`` bins ("int" or "one_hot" output)."""

    def __init__(self, feature_names, crossing_dim: int, output_mode: str = "one_hot"):
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"Cross output_mode must be 'int' or 'one_hot'. Received: output_mode={output_mode!r}")
        self.feature_names, self.crossing_dim, self.output_mode = tuple(feature_names), crossing_dim, output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)


class Feature:
    """A column's input ``dtype``, its ``preprocessor`` layer, and how its output is encoded."""

    def __init__(self, dtype: str, preprocessor, output_mode: str):
        if output_mode not in _FEATURE_MODES:
            raise ValueError(f"Feature output_mode must be one of {_FEATURE_MODES}. Received: {output_mode!r}")
        self.dtype, self.preprocessor, self.output_mode = dtype, preprocessor, output_mode


class _Identity:
    """The "float" preprocessor: the column as float32."""

    def __call__(self, x):
        return np.asarray(x, "float32")


class FeatureSpace:
    """See the module docstring; the arguments are Keras'."""

    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot") -> Cross:
        return Cross(feature_names, crossing_dim, output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode) -> Feature:
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None) -> Feature:
        return Feature("float32", _Identity(), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None) -> Feature:
        return Feature("float32", layers.Rescaling(scale=scale, offset=offset, name=_named(name)), "float")

    @classmethod
    def float_normalized(cls, name=None) -> Feature:
        return Feature("float32", layers.Normalization(axis=-1, name=_named(name)), "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None) -> Feature:
        bins = {"num_bins": num_bins} if bin_boundaries is None else {"bin_boundaries": bin_boundaries}
        return Feature("float32", layers.Discretization(**bins, name=_named(name)), output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None) -> Feature:
        lookup = layers.IntegerLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, name=_named(name))
        return Feature("int64", lookup, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None) -> Feature:
        lookup = layers.StringLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, name=_named(name))
        return Feature("string", lookup, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None) -> Feature:
        return Feature("string", layers.Hashing(num_bins=num_bins, name=_named(name)), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None) -> Feature:
        return Feature("int64", layers.Hashing(num_bins=num_bins, name=_named(name)), output_mode)

    def __init__(self, features: Mapping, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
                 num_discretization_bins=32, name=None):
        if not features:
            raise ValueError("FeatureSpace: the features argument cannot be None or empty")
        if output_mode not in ("dict", "concat"):
            raise ValueError(f"FeatureSpace output_mode must be 'dict' or 'concat'. Received: {output_mode!r}")
        self.name, self.output_mode = name or "feature_space", output_mode
        self.crossing_dim, self.hashing_dim = crossing_dim, hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {key: self._standardize(key, value) for key, value in features.items()}
        self.preprocessors = {key: feature.preprocessor for key, feature in self.features.items()}
        self.crosses = [self._cross(cross) for cross in crosses or ()]
        self.crossers = {cross.name: layers.HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self._adapted = not self._adaptable()

    def _standardize(self, key: str, feature) -> Feature:
        if isinstance(feature, Feature):
            return feature
        presets = {
            "float": lambda: self.float(key), "float_normalized": lambda: self.float_normalized(key),
            "float_rescaled": lambda: self.float_rescaled(name=key),
            "float_discretized": lambda: self.float_discretized(self.num_discretization_bins, name=key),
            "integer_categorical": lambda: self.integer_categorical(name=key),
            "string_categorical": lambda: self.string_categorical(name=key),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=key),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=key),
        }
        if feature not in presets:
            raise ValueError(f"FeatureSpace: invalid feature type {feature!r} for {key!r}; expected a Feature or "
                             f"one of {sorted(presets)}")
        return presets[feature]()

    def _cross(self, cross) -> Cross:
        if isinstance(cross, Cross):
            return cross
        if not self.crossing_dim:
            raise ValueError("FeatureSpace: crosses given as names need crossing_dim")
        unknown = [name for name in cross if name not in self.features]
        if unknown:
            raise ValueError(f"FeatureSpace: the cross {tuple(cross)} names unknown features {unknown}")
        return Cross(cross, self.crossing_dim)

    def _adaptable(self) -> list[str]:
        """The features whose preprocessor still has something to learn from data."""
        names = []
        for name, preprocessor in self.preprocessors.items():
            if isinstance(preprocessor, layers.Normalization) and preprocessor._given is not None:
                continue
            if isinstance(preprocessor, layers.Discretization) and preprocessor.num_bins is None:
                continue
            if getattr(preprocessor, "_has_input_vocabulary", False):
                continue
            if hasattr(preprocessor, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset) -> None:
        """Fit the preprocessors on a dict of columns, or on an iterable of such dicts (batches)."""
        columns = _columns(dataset)
        missing = [name for name in self._adaptable() if name not in columns]
        if missing:
            raise ValueError(f"FeatureSpace.adapt: the data has no column for {missing}")
        for name in self._adaptable():
            self.preprocessors[name].adapt(self._column(name, columns[name]))
        self._adapted = True

    def _column(self, name: str, values) -> np.ndarray:
        """A column as ``(batch, 1)`` in its feature's dtype."""
        values = np.asarray(values)
        dtype = self.features[name].dtype
        values = values.astype(str) if dtype == "string" else values.astype(dtype)
        return values.reshape(-1, 1) if values.ndim <= 1 else values

    def __call__(self, data: Mapping):
        """The preprocessed features of ``data`` (a dict of columns; a single sample's scalars too)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"A FeatureSpace is called with a dict of columns. Received: {type(data).__name__}")
        if not self._adapted:
            raise ValueError("FeatureSpace: call adapt(data) before using it")
        single = all(np.ndim(value) == 0 for value in data.values())
        columns = {name: self._column(name, data[name]) for name in self.features}
        processed = {name: np.asarray(self.preprocessors[name](columns[name])) for name in sorted(self.features)}
        crossed = {cross.name: np.asarray(self.crossers[cross.name]([processed[n] for n in cross.feature_names]))
                   for cross in sorted(self.crosses, key=lambda c: c.name)}
        encoded = {name: self._encoded(name, value) for name, value in {**processed, **crossed}.items()}
        if self.output_mode == "dict":
            return {name: value[0] if single else value for name, value in encoded.items()}
        for name, value in encoded.items():
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"FeatureSpace: cannot concatenate feature {name!r}: it is not encoded (dtype "
                                 f"{value.dtype}); use output_mode='dict' or a one_hot/float feature")
        joined = np.concatenate([value.astype("float32") for value in encoded.values()], axis=-1)
        return joined[0] if single else joined

    def _spec(self, name: str):
        return self.features.get(name) or next(c for c in self.crosses if c.name == name)

    def _cardinality(self, name: str) -> int:
        """How many values a categorical output takes (its one-hot width)."""
        preprocessor = self.preprocessors.get(name) or self.crossers[name]
        if isinstance(preprocessor, (layers.IntegerLookup, layers.StringLookup)):
            return preprocessor.vocabulary_size()
        if isinstance(preprocessor, layers.Discretization):
            return len(preprocessor.bin_boundaries) + 1
        if isinstance(preprocessor, (layers.Hashing, layers.HashedCrossing)):
            return preprocessor.num_bins
        if isinstance(preprocessor, layers.CategoryEncoding):
            return preprocessor.num_tokens
        raise ValueError(f"FeatureSpace: feature {name!r} has output_mode='one_hot' but its preprocessor's number "
                         "of categories is unknown; use output_mode='int'")

    def _encoded(self, name: str, value: np.ndarray) -> np.ndarray:
        if self._spec(name).output_mode != "one_hot":
            return value
        if not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"FeatureSpace: feature {name!r} is one_hot, so its preprocessor must return integers. "
                             f"It returned {value.dtype}")
        return np.asarray(layers.CategoryEncoding(num_tokens=self._cardinality(name), output_mode="multi_hot")(value),
                          "float32")

    def _widths(self) -> dict[str, int]:
        names = sorted(self.features) + sorted(c.name for c in self.crosses)
        return {name: self._cardinality(name) if self._spec(name).output_mode == "one_hot" else 1 for name in names}

    def get_encoded_features(self):
        """The model input(s) the encoded features feed: one ``Input`` of the concatenated width, or one per
        feature (``output_mode="dict"``)."""
        if not self._adapted:
            raise ValueError("FeatureSpace: call adapt(data) before get_encoded_features()")
        widths = self._widths()
        if self.output_mode == "concat":
            return layers.Input(shape=(sum(widths.values()),), name=f"{self.name}_encoded")
        return {name: layers.Input(shape=(width,), name=name) for name, width in widths.items()}

    def get_inputs(self):
        """Not available: raw columns (strings among them) cannot enter a theanine graph."""
        raise NotImplementedError("FeatureSpace.get_inputs: theanine's graphs hold no string tensors, so the "
                                  "preprocessing runs on arrays (feature_space(data)); build the model on "
                                  "get_encoded_features() and call feature_space on the raw data first")


def _named(name: str | None) -> str | None:
    return None if name is None else f"{name}_preprocessor"


def _columns(dataset) -> dict[str, np.ndarray]:
    """A dict of whole columns from a dict of columns or an iterable of dict batches."""
    if isinstance(dataset, Mapping):
        return {key: np.asarray(value) for key, value in dataset.items()}
    batches = [batch[0] if isinstance(batch, tuple) else batch for batch in dataset]
    if not batches or not all(isinstance(batch, Mapping) for batch in batches):
        raise ValueError("FeatureSpace.adapt takes a dict of columns or an iterable of dict batches")
    return {key: np.concatenate([np.asarray(batch[key]).reshape(len(batch[key]), -1) for batch in batches])
            for key in batches[0]}

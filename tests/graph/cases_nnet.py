"""Op table rows for softmax, log_softmax and the crossentropies.

References are Keras' formulas evaluated in float64 with SciPy's stable
softmax, rounded to the row's dtype.  Rows cover axes (first, middle, last,
negative), float16/32/64, integer labels of two widths, and extreme logits
(+-1e4), where the value and the finite-difference gradient must stay finite.
"""

import numpy as np
import scipy.special

import theanine as th
from op_table import Case

R = np.random.default_rng(11)
EPS = 1e-7
LOGITS = R.standard_normal((3, 4))
LOGITS_3D = R.standard_normal((2, 3, 4))
EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, 1e4, 1e4], [2.0, 1.0, -1e4, 0.5]])
TARGET = R.dirichlet(np.ones(4), size=3)
PROBS = R.uniform(0.1, 0.9, (3, 4))
LABELS = np.array([0, 3, 2])
LABELS_AXIS0 = np.array([2, 0, 1, 1])
BINARY_TARGET = (R.random((3, 4)) > 0.5).astype("float64")


def _ref_softmax(axis):
    return lambda x: scipy.special.softmax(x.astype("float64"), axis=axis).astype(x.dtype)


def _ref_log_softmax(axis):
    return lambda x: scipy.special.log_softmax(x.astype("float64"), axis=axis).astype(x.dtype)


def _keras_log_probs(output, from_logits, axis):
    output = output.astype("float64")
    if from_logits:
        return scipy.special.log_softmax(output, axis=axis)
    output = output / output.sum(axis=axis, keepdims=True)
    return np.log(np.clip(output, EPS, 1 - EPS))


def _ref_cce(from_logits, axis=-1):
    def reference(target, output):
        log_probs = _keras_log_probs(output, from_logits, axis)
        return (-(target * log_probs).sum(axis=axis)).astype(output.dtype)

    return reference


def _ref_sparse(from_logits, axis=-1):
    def reference(labels, output):
        one_hot = np.moveaxis(np.eye(output.shape[axis])[labels], -1, axis)
        return _ref_cce(from_logits, axis)(one_hot, output)

    return reference


def _ref_bce(from_logits):
    def reference(target, output):
        x, z = output.astype("float64"), target.astype("float64")
        if from_logits:
            loss = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
        else:
            p = np.clip(x, EPS, 1 - EPS)
            loss = -(z * np.log(p) + (1 - z) * np.log(1 - p))
        return loss.astype(output.dtype)

    return reference


def _f32(a):
    return np.asarray(a, dtype="float32")


CASES = []
for dtype in ("float32", "float64"):
    short = dtype.replace("float", "f")
    logits, extreme = LOGITS.astype(dtype), EXTREME.astype(dtype)
    CASES += [
        Case(f"softmax_{short}_last", th.softmax, [logits], _ref_softmax(-1)),
        Case(f"softmax_{short}_axis0", lambda x: th.softmax(x, axis=0), [logits], _ref_softmax(0)),
        Case(f"softmax_{short}_extreme", th.softmax, [extreme], _ref_softmax(-1)),
        Case(f"log_softmax_{short}_last", th.log_softmax, [logits], _ref_log_softmax(-1)),
        Case(f"log_softmax_{short}_axis0", lambda x: th.log_softmax(x, axis=0), [logits], _ref_log_softmax(0)),
        Case(f"log_softmax_{short}_extreme", th.log_softmax, [extreme], _ref_log_softmax(-1)),
        Case(f"cce_logits_{short}", lambda t, x: th.categorical_crossentropy(t, x, from_logits=True),
             [TARGET.astype(dtype), logits], _ref_cce(True)),
        Case(f"cce_logits_{short}_extreme", lambda t, x: th.categorical_crossentropy(t, x, from_logits=True),
             [TARGET.astype(dtype), extreme], _ref_cce(True)),
        Case(f"cce_probs_{short}", th.categorical_crossentropy, [TARGET.astype(dtype), PROBS.astype(dtype)],
             _ref_cce(False)),
        Case(f"sparse_cce_logits_{short}",
             lambda t, x: th.sparse_categorical_crossentropy(t, x, from_logits=True),
             [LABELS, logits], _ref_sparse(True)),
        Case(f"sparse_cce_logits_{short}_extreme",
             lambda t, x: th.sparse_categorical_crossentropy(t, x, from_logits=True),
             [LABELS, extreme], _ref_sparse(True)),
        Case(f"sparse_cce_probs_{short}", th.sparse_categorical_crossentropy, [LABELS, PROBS.astype(dtype)],
             _ref_sparse(False)),
        Case(f"bce_logits_{short}", lambda t, x: th.binary_crossentropy(t, x, from_logits=True),
             [BINARY_TARGET.astype(dtype), logits], _ref_bce(True)),
        Case(f"bce_logits_{short}_extreme", lambda t, x: th.binary_crossentropy(t, x, from_logits=True),
             [BINARY_TARGET.astype(dtype), extreme], _ref_bce(True)),
        Case(f"bce_probs_{short}", th.binary_crossentropy, [BINARY_TARGET.astype(dtype), PROBS.astype(dtype)],
             _ref_bce(False)),
    ]

CASES += [
    Case("softmax_f64_3d_middle", lambda x: th.softmax(x, axis=1), [LOGITS_3D], _ref_softmax(1)),
    Case("log_softmax_f64_3d_negative_axis", lambda x: th.log_softmax(x, axis=-2), [LOGITS_3D],
         _ref_log_softmax(-2)),
    Case("softmax_f16", th.softmax, [LOGITS.astype("float16")], _ref_softmax(-1)),
    Case("log_softmax_f32_static", th.log_softmax, [_f32(LOGITS)], _ref_log_softmax(-1), static_shapes=True),
    Case("cce_logits_f64_axis0", lambda t, x: th.categorical_crossentropy(t, x, from_logits=True, axis=0),
         [TARGET.T.copy(), LOGITS.T.copy()], _ref_cce(True, axis=0)),
    Case("sparse_cce_logits_f64_axis0_int32",
         lambda t, x: th.sparse_categorical_crossentropy(t, x, from_logits=True, axis=0),
         [LABELS_AXIS0.astype("int32"), LOGITS.copy()], _ref_sparse(True, axis=0)),
    Case("sparse_cce_logits_f32_3d", lambda t, x: th.sparse_categorical_crossentropy(t, x, from_logits=True),
         [R.integers(0, 4, (2, 3)), _f32(LOGITS_3D)], _ref_sparse(True)),
]

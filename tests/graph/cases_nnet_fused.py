"""Op table rows for the fused softmax-crossentropy ops and their gradient op.

References are the from-logits crossentropy in float64 with SciPy's stable
log-softmax.  Rows cover sparse labels (an out-of-range label gives 0 loss
and 0 gradient, as ``ClassMask`` does), dense targets, axis 0, float32 and
extreme logits (+-1e4, where the naive formulas give inf or nan).
"""

import numpy as np
import scipy.special

from op_table import Case
from theanine.graph.ops.nnet_fused import CrossentropySoftmax, CrossentropySoftmaxDx

R = np.random.default_rng(23)
LOGITS = R.standard_normal((4, 5))
EXTREME = np.array([[1e4, -1e4, 0.0, 3.0, 1.0], [-1e4, -1e4, 1e4, 1e4, 0.0], [2.0, 1.0, -1e4, 0.5, 0.0]])
LABELS = np.array([0, 4, 2, 1])
OUT_OF_RANGE = np.array([0, 7, -1])
TARGET = R.dirichlet(np.ones(5), size=4)
DY = R.standard_normal(4)


def _one_hot(labels, classes, axis):
    valid = (labels >= 0) & (labels < classes)
    hot = np.eye(classes)[np.where(valid, labels, 0)] * valid[:, None]
    return np.moveaxis(hot, -1, axis)


def _dense(target, x, sparse, axis):
    return _one_hot(target, x.shape[axis], axis) if sparse else target.astype("float64")


def _loss_ref(sparse, axis=1):
    def reference(x, target):
        weights = _dense(target, x, sparse, axis)
        return (-(weights * scipy.special.log_softmax(x.astype("float64"), axis=axis)).sum(axis=axis)).astype(x.dtype)

    return reference


def _dx_ref(sparse, axis=1):
    def reference(dy, x, target):
        weights = _dense(target, x, sparse, axis)
        probabilities = scipy.special.softmax(x.astype("float64"), axis=axis)
        total = weights.sum(axis=axis, keepdims=True)
        return (np.expand_dims(dy, axis) * (probabilities * total - weights)).astype(x.dtype)

    return reference


def _f32(a):
    return np.asarray(a, dtype="float32")


CASES = [
    Case("ce_softmax_sparse_f64", CrossentropySoftmax(1, True), [LOGITS, LABELS], _loss_ref(True)),
    Case("ce_softmax_sparse_f32", CrossentropySoftmax(1, True), [_f32(LOGITS), LABELS.astype("int32")],
         _loss_ref(True)),
    Case("ce_softmax_sparse_out_of_range", CrossentropySoftmax(1, True), [LOGITS[:3], OUT_OF_RANGE],
         _loss_ref(True)),
    Case("ce_softmax_sparse_extreme", CrossentropySoftmax(1, True), [EXTREME, LABELS[:3]], _loss_ref(True)),
    Case("ce_softmax_dense_f64", CrossentropySoftmax(1, False), [LOGITS, TARGET], _loss_ref(False)),
    Case("ce_softmax_dense_axis0", CrossentropySoftmax(0, False), [LOGITS.T.copy(), TARGET.T.copy()],
         _loss_ref(False, axis=0)),
    Case("ce_softmax_dense_extreme_f32", CrossentropySoftmax(1, False), [_f32(EXTREME), _f32(TARGET[:3])],
         _loss_ref(False)),
    Case("ce_softmax_dx_sparse_f64", CrossentropySoftmaxDx(1, True), [DY, LOGITS, LABELS], _dx_ref(True)),
    Case("ce_softmax_dx_sparse_out_of_range", CrossentropySoftmaxDx(1, True), [DY[:3], LOGITS[:3], OUT_OF_RANGE],
         _dx_ref(True)),
    Case("ce_softmax_dx_sparse_extreme_f32", CrossentropySoftmaxDx(1, True),
         [_f32(DY[:3]), _f32(EXTREME), LABELS[:3]], _dx_ref(True)),
    Case("ce_softmax_dx_dense_f64", CrossentropySoftmaxDx(1, False), [DY, LOGITS, TARGET], _dx_ref(False)),
    Case("ce_softmax_dx_dense_axis0", CrossentropySoftmaxDx(0, False), [DY, LOGITS.T.copy(), TARGET.T.copy()],
         _dx_ref(False, axis=0)),
]

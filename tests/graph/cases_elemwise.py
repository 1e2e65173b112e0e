"""Op table rows for elementwise ops."""

import numpy as np
from op_table import Case

import theanine as th

R = np.random.default_rng(0)
F32 = R.standard_normal((3, 4)).astype("float32")
F32_ROW = R.standard_normal((1, 4)).astype("float32")

CASES = [
    Case("add_f32_broadcast_row", lambda a, b: a + b, [F32, F32_ROW], np.add, static_shapes=True),
    Case("exp_f32", th.exp, [F32], np.exp),
    Case("tanh_f32", th.tanh, [F32], np.tanh),
]

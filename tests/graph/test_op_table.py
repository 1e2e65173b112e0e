"""Every row of the op case table, under every backend, against NumPy (natively under llvm and cuda-emulated)."""

import numpy as np
import pytest

import theanine as th
from op_table import all_cases, tolerance

CASES = all_cases()


def _symbolic_inputs(case):
    return [
        th.tensor(f"in{i}", np.asarray(a).dtype, np.shape(a) if case.static_shapes else (None,) * np.ndim(a))
        for i, a in enumerate(case.inputs)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_value_matches_numpy(case, backend):
    variables = _symbolic_inputs(case)
    out = case.build(*variables)
    outs = out if isinstance(out, (list, tuple)) else [out]
    f = th.function(variables, list(outs), backend=backend)
    if backend in ("llvm", "cuda-emulated"):
        unexpected = [n for n in f.python_fallbacks if not isinstance(n.op, case.host_calls)]
        assert unexpected == [], f"{case.id}: runs NumPy code under {backend}\n{f.explain()}"
    got = f(*case.inputs)
    with np.errstate(all="ignore"):
        expected = case.reference(*case.inputs)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    for g, e, o in zip(got, expected, outs, strict=True):
        e = np.asarray(e)
        assert g.dtype == o.dtype, f"{case.id}: dtype {g.dtype} != declared {o.dtype}"
        assert g.dtype == e.dtype, f"{case.id}: dtype {g.dtype} != NumPy's {e.dtype}"
        assert g.shape == e.shape, f"{case.id}: shape {g.shape} != NumPy's {e.shape}"
        rtol, atol = tolerance(g.dtype)
        np.testing.assert_allclose(g, e, rtol=case.rtol or rtol, atol=case.atol or atol, equal_nan=True,
                                   err_msg=case.id)
        if g.dtype.kind == "f":
            zeros = (g == 0) & (e == 0)
            np.testing.assert_array_equal(np.signbit(g[zeros]), np.signbit(e[zeros]), err_msg=case.id)


GRAD_CASES = [c for c in CASES if c.float_inputs()]


EMULATED_GRAD_CASES = GRAD_CASES[::8]
"""Every 8th gradient row also runs under cuda-emulated: each compiles a few programs with g++, so
the whole table's gradients would cost minutes of CI; the sample covers every op family."""


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_gradient_matches_finite_differences(case):
    _check_gradient(case, None)


@pytest.mark.parametrize("case", EMULATED_GRAD_CASES, ids=[c.id for c in EMULATED_GRAD_CASES])
def test_gradient_matches_finite_differences_under_cuda_emulated(case):
    _check_gradient(case, "cuda-emulated")


def _check_gradient(case, backend):
    wrt = case.float_inputs()
    points = list(case.grad_points or case.inputs)
    fixed = {i: th.constant(np.asarray(a)) for i, a in enumerate(points) if i not in wrt}

    def fun(*variables):
        it = iter(variables)
        args = [fixed[i] if i in fixed else next(it) for i in range(len(points))]
        return case.build(*args)

    th.verify_grad(fun, [np.asarray(points[i], dtype="float64") for i in wrt], rtol=1e-4, atol=1e-6, backend=backend)

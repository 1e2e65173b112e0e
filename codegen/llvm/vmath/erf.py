"""erf and erfc in double precision (float32 is computed in double and rounded once).

erf(x) = x P(x^2) for |x| < 1.  For |x| >= 1/2, erfc(|x|) = e^(-x^2) F(|x|)
where F(x) = erfc(x) e^(x^2) is smooth and slowly varying: polynomials in
x - centre on [1/2, 3/2), [3/2, 3), [3, 9/2), [9/2, 6), and F(x) = G(1/x^2) / x
beyond 6 (G tends to 1/sqrt(pi)).  All pieces are evaluated by one Horner
loop whose coefficients are picked per lane with selects.  e^(-x^2) takes
x^2 as an exact hi + lo pair, e^(-hi - lo), so the large argument
costs no accuracy.  erf = 1 - erfc above 1, erfc = 1 - erf below 1/2 and
erfc(x) = 2 - erfc(-x) below -1: no subtraction cancels more than a bit.

Coefficients: near-minimax fits (weighted least squares with Lawson
iterations in mpmath, relative error 2^-53 to 2^-56 per piece).
"""

from __future__ import annotations

from theanine.codegen.llvm.vmath import exp
from theanine.codegen.llvm.vmath.builder import MathBuilder

# erf(x) / x as a polynomial in x^2 on |x| <= 1
_ERF_POLY = (
    1.1283791670955126,
    -0.3761263890318352,
    0.11283791670944218,
    -0.02686617064311601,
    0.005223977606153613,
    -0.0008548325930966115,
    0.00012055293626019309,
    -1.492471324400715e-05,
    1.6447143172887311e-06,
    -1.6206402299335457e-07,
    1.371136124724311e-08,
    -7.780173962886533e-10,
)
# (start, centre, coefficients): erfc(x) e^(x^2) as a polynomial in x - centre from ``start``;
# the last piece is x erfc(x) e^(x^2) as a polynomial in 1/x^2
_ERFC_PIECES = (
    (
        0.5,
        1.0,
        (
            0.427583576155807,
            -0.2732120147838984,
            0.1543715613719088,
            -0.0792269689413553,
            0.03757229621526519,
            -0.01666186908880456,
            0.006970142375591727,
            -0.002769064816526706,
            0.0010502693940333775,
            -0.0003819539839532002,
            0.0001336629692104575,
            -4.514803595420707e-05,
            1.4753627417445837e-05,
            -4.657823908797721e-06,
            1.436465220647145e-06,
            -4.713658613121355e-07,
            1.35415654092358e-07,
        ),
    ),
    (
        1.5,
        2.25,
        (
            0.23108725873039188,
            -0.08848650280874881,
            0.03199262741070658,
            -0.011002060756470174,
            0.0036189953543499472,
            -0.0011437284829010671,
            0.0003485354220887355,
            -0.0001027210895831261,
            2.935324777425901e-05,
            -8.15023333683509e-06,
            2.203016380003753e-06,
            -5.808005799530004e-07,
            1.4945878607984438e-07,
            -3.728422268183493e-08,
            9.202388236071034e-09,
            -2.5506302445121414e-09,
            5.949921827259272e-10,
        ),
    ),
    (
        3.0,
        3.75,
        (
            0.14558972127503853,
            -0.03645625753272353,
            0.008878755527325496,
            -0.002107282870169093,
            0.00048822238208813865,
            -0.00011057957492395989,
            2.4516325482117258e-05,
            -5.326672799980385e-06,
            1.1353248675668995e-06,
            -2.3760029631031092e-07,
            4.886760971845263e-08,
            -9.883570924747287e-09,
            1.9613595729438294e-09,
            -3.8460800813408636e-10,
            8.073365399116709e-11,
            -1.528744084884594e-11,
        ),
    ),
    (
        4.5,
        5.25,
        (
            0.1056127354688918,
            -0.019445444672148652,
            0.003524150940111397,
            -0.0006291014910422671,
            0.0001106840560690031,
            -1.9204078677369742e-05,
            3.287547680782838e-06,
            -5.555580554602435e-07,
            9.271690785367729e-08,
            -1.5287817479415744e-08,
            2.4914047199961985e-09,
            -4.0098406371872635e-10,
            6.391033932656951e-11,
            -1.0615284522000144e-11,
            1.6526212645105564e-12,
        ),
    ),
    (
        6.0,
        0.0,
        (
            0.5641895835477562,
            -0.28209479177369534,
            0.42314218752720334,
            -1.0578554180015525,
            3.7024825116713482,
            -16.659540404162733,
            91.47536914303481,
            -585.181986658946,
            4006.7255890815977,
            -24266.38611910918,
            87130.0370350296,
        ),
    ),
)


def _erf_small(m: MathBuilder, x):
    """erf(x) for |x| < 1 (odd, keeps -0.0)."""
    return m.mul(x, m.poly(m.mul(x, x), _ERF_POLY))


def _erfc_positive(m: MathBuilder, a):
    """erfc(a) for a >= 1/2 (0 from 30 on, where it underflows)."""
    a = m.clamp(a, 0.0, 30.0)
    variable = m.sub(a, m.c(_ERFC_PIECES[0][1]))
    coefficients = [m.c(c) for c in _ERFC_PIECES[0][2]]
    for start, centre, values in _ERFC_PIECES[1:]:
        inside = m.ge(a, m.c(start))
        padded = list(values) + [0.0] * (len(coefficients) - len(values))
        pairs = zip(padded, coefficients, strict=True)
        coefficients = [m.select(inside, m.c(v), c) for v, c in pairs]
        variable = m.select(inside, m.sub(a, m.c(centre)), variable)
    outer = m.ge(a, m.c(_ERFC_PIECES[-1][0]))
    reciprocal = m.div(m.c(1.0), a)
    variable = m.select(outer, m.mul(reciprocal, reciprocal), variable)
    acc = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = m.fma(acc, variable, c)
    square, square_lo = m.two_prod(a, a)
    value = m.mul(exp.exp(m, m.neg(square), low=m.neg(square_lo)), acc)
    return m.select(outer, m.div(value, a), value)


def erf(m: MathBuilder, x):
    a = m.abs(x)
    large = m.copysign(m.sub(m.c(1.0), _erfc_positive(m, a)), x)
    return m.select(m.lt(a, m.c(1.0)), _erf_small(m, x), large)


def erfc(m: MathBuilder, x):
    tail = _erfc_positive(m, m.abs(x))
    middle = m.sub(m.c(1.0), _erf_small(m, x))
    value = m.select(m.gt(x, m.c(-1.0)), middle, m.sub(m.c(2.0), tail))
    return m.select(m.ge(x, m.c(0.5)), tail, value)

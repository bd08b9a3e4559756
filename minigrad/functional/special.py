"""Special functions the array API standard lacks, written with its operations so they run on
every device: erf and erfc (erfc gives the exact GELU its normal cdf), on arrays and, at the
end, as differentiable ops on Tensors. Read activations.py next.
"""

import math

from minigrad import backend
from minigrad.tensor import Function

INV_SQRT_PI = 1 / math.sqrt(math.pi)


def _mask(xp, condition, like):
    """A boolean condition as 0/1 in the dtype of `like`."""
    return xp.astype(condition, like.dtype)


# --------------------------------------------------------------------------- erf
# The array API has no erf. W. J. Cody, "Rational Chebyshev approximations for the error
# function", Math. Comp. 23 (1969) 631-637; coefficients as in his Netlib SPECFUN routine CALERF.
# Three intervals of |x|: erf = x R1(x^2) up to 0.46875; erfc = exp(-x^2) R2(x) up to 4;
# erfc = exp(-x^2) / x (1/sqrt(pi) - z R3(z)) with z = 1/x^2 beyond. Relative error ~1e-16.

_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)  # fmt: skip
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip


def _rational(num, den, t):
    """Cody's P(t)/Q(t): num[-1] leads the numerator, Q is monic, both evaluated by Horner.

    In place on two fresh arrays: a temporary per step costs more than the arithmetic."""
    top = num[-1] * t
    bottom = t + den[0]
    top += num[0]
    top *= t
    bottom *= t
    for a, b in zip(num[1:-2], den[1:-1]):
        top += a
        top *= t
        bottom += b
        bottom *= t
    top += num[-2]
    bottom += den[-1]
    top /= bottom
    return top


def _exp_neg_square(xp, y):
    """exp(-y^2) as exp(-s^2) exp(-(y-s)(y+s)), s = y rounded down to 1/16: y*y is exact for s,
    so the rounding error of y*y is not magnified by exp (Cody's trick)."""
    s = xp.trunc(y * 16) / 16
    return xp.exp(-s * s) * xp.exp(-(y - s) * (y + s))


def _erf_and_erfc(xp, x):
    """(erf(x), erfc(x)) of a raw array, each to full relative precision."""
    y = xp.clip(xp.abs(x), 0.0, 28.0)  # erfc(28) underflows to 0: beyond it both are exact
    # the pieces are blended as m * a + (1 - m) * b with 0/1 masks m, which is exact since every
    # piece is finite for every y (NumPy's where() is several times slower on random masks)
    small = _mask(xp, y <= 0.46875, y)
    middle = _mask(xp, y <= 4.0, y)
    erf_small = y * _rational(_ERF_A, _ERF_B, y * y)
    far = xp.maximum(y, 4.0)  # clamped: 1/far^2 must not divide by zero where it is unused
    z = 1 / (far * far)
    erfcx_far = (INV_SQRT_PI - z * _rational(_ERF_P, _ERF_Q, z)) / far
    erfcx = middle * _rational(_ERF_C, _ERF_D, y) + (1 - middle) * erfcx_far
    erfc_big = _exp_neg_square(xp, y) * erfcx
    erf_y = small * erf_small + (1 - small) * (1 - erfc_big)
    erfc_y = small * (1 - erf_small) + (1 - small) * erfc_big
    negative = _mask(xp, x < 0, y)
    return erf_y * (1 - 2 * negative), erfc_y + negative * (2 - 2 * erfc_y)


# --------------------------------------------------------------------------- erfc, single precision
# For float32 a shorter formula is as accurate as Cody's evaluated in float32: Press et al.,
# Numerical Recipes (2nd ed., sec. 6.2), erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2) for
# z >= 0, P a Chebyshev fit of degree 9 with fractional error < 1.2e-7. Measured on float32:
# max relative error 5.1e-7 (Cody's in float32: 6.9e-7), with fewer operations.

_ERFC_NR = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
            -1.13520398, 1.48851587, -0.82215223, 0.17087277)  # fmt: skip


def _erfc_single(xp, x):
    """erfc of a float32 (or float16) array to ~5e-7 relative, underflowing to 0 past z = 10."""
    z = xp.clip(xp.abs(x), 0.0, 12.0)  # erfc(12) underflows even float32 subnormals
    t = 1 / (1 + 0.5 * z)
    p = _ERFC_NR[-1] * t  # P(t) by Horner, in place
    for c in reversed(_ERFC_NR[1:-1]):
        p += c
        p *= t
    p += _ERFC_NR[0]
    # exp(-z^2) as exp(-s^2) exp(-(z-s)(z+s)), s = z rounded down to 1/16 (see _exp_neg_square)
    s = xp.trunc(z * 16) / 16
    p -= (z - s) * (z + s)
    y = xp.exp(-s * s)
    y *= xp.exp(p)
    y *= t
    negative = _mask(xp, x < 0, y)
    return y + negative * (2 - 2 * y)  # erfc(-z) = 2 - erfc(z)


def erf_array(x):
    """erf of a raw backend array (any device), accurate to ~1e-16 relative in float64."""
    return _erf_and_erfc(backend.xp_of(x), x)[0]


def erfc_array(x):
    """erfc = 1 - erf of a raw backend array, without the cancellation of 1 - erf(x) for x > 0:
    Cody's formulas in float64 (~1e-16), the single-precision formula otherwise (~5e-7)."""
    xp = backend.xp_of(x)
    if x.dtype == xp.float64:
        return _erf_and_erfc(xp, x)[1]
    return _erfc_single(xp, x)


# --------------------------------------------------------------------------- differentiable erf


class Erf(Function):
    """y = erf(x);  dx = dout * 2/sqrt(pi) exp(-x^2)

    The backward is written with self.xp, so it is itself differentiable (create_graph=True)."""

    def forward(self, x):
        self.x = x
        return erf_array(x)

    def backward(self, dout):
        x = self.x
        return (dout * (2 * INV_SQRT_PI) * self.xp.exp(-x * x),)


class Erfc(Function):
    """y = erfc(x) = 1 - erf(x), without the cancellation for x > 0;
    dx = -dout * 2/sqrt(pi) exp(-x^2)"""

    def forward(self, x):
        self.x = x
        return erfc_array(x)

    def backward(self, dout):
        x = self.x
        return (dout * (-2 * INV_SQRT_PI) * self.xp.exp(-x * x),)


def erf(x):
    return Erf.apply(x)


def erfc(x):
    return Erfc.apply(x)

"""Beta distribution quantiles without scipy (a dev-only dependency), vectorised with numpy.

`betainc` is the regularised incomplete beta I_x(a, b), evaluated by the modified Lentz continued
fraction (Numerical Recipes §6.4) on the side of the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where
the fraction converges fast. `beta_ppf` inverts it by bisection: I_x is monotone in x, so 60
halvings of [0, 1] pin the quantile to ~1e-18 whatever a and b are, with no starting-point
sensitivity (Newton steps can overshoot out of [0, 1] when a or b < 1).
"""

from __future__ import annotations

import math

import numpy as np

_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 20_000  # the fraction needs O(sqrt(max(a, b))) terms: enough for a, b up to ~1e8
_BISECTIONS = 60

_lgamma = np.vectorize(math.lgamma, otypes=[float])


def _continued_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < _TINY, _TINY, d)
    d = 1.0 / d
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            d = 1.0 / d
            delta = c * d
            h = np.where(active, h * delta, h)
        active &= np.abs(delta - 1.0) > _EPS
        if not active.any():
            break
    return h


def betainc(a, b, x) -> np.ndarray:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1 (broadcast arrays)."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, x)))
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("beta parameters must be positive")
    if np.any((x < 0) | (x > 1)):
        raise ValueError("x must lie in [0, 1]")
    out = np.where(x >= 1.0, 1.0, 0.0)
    inner = (x > 0) & (x < 1)
    if not inner.any():
        return out
    a_i, b_i, x_i = a[inner], b[inner], x[inner]
    # Evaluate the fraction where it converges quickly; use the symmetry elsewhere.
    flip = x_i > (a_i + 1.0) / (a_i + b_i + 2.0)
    a_f, b_f, x_f = np.where(flip, b_i, a_i), np.where(flip, a_i, b_i), np.where(flip, 1 - x_i, x_i)
    log_front = (
        _lgamma(a_f + b_f) - _lgamma(a_f) - _lgamma(b_f) + a_f * np.log(x_f) + b_f * np.log1p(-x_f)
    )
    value = np.exp(log_front) * _continued_fraction(a_f, b_f, x_f) / a_f
    out[inner] = np.where(flip, 1.0 - value, value)
    return np.clip(out, 0.0, 1.0)


def beta_ppf(q, a, b) -> np.ndarray:
    """Quantile function of Beta(a, b): the x with I_x(a, b) = q, for 0 <= q <= 1."""
    q, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (q, a, b)))
    if np.any((q < 0) | (q > 1)):
        raise ValueError("q must lie in [0, 1]")
    lo, hi = np.zeros(q.shape), np.ones(q.shape)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        below = betainc(a, b, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(q <= 0, 0.0, np.where(q >= 1, 1.0, (lo + hi) / 2.0))

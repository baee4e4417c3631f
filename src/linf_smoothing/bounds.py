"""The certificates' arithmetic, free of torch: Clopper-Pearson bounds, the top-1 and top-2
radii and the l2 to l-inf conversion (``certificates`` builds the variants from them).

Kept apart from ``smoothing`` (which samples the base classifier), and free of scipy at
import time, so the workflow computes radii at parse time in milliseconds.
"""
from __future__ import annotations

import math
from statistics import NormalDist

# Wichura's AS241 algorithm: inverse normal CDF accurate to about 1e-16.
_inv_phi = NormalDist().inv_cdf


def _elementwise(function, *arrays):
    """``function`` of floats applied to each element of broadcast arrays (a float for scalars)."""
    import numpy as np

    if all(np.ndim(a) == 0 for a in arrays):
        return function(*(float(a) for a in arrays))
    broadcast = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))
    return np.array([function(*values) for values in zip(*(b.ravel() for b in broadcast))],
                    dtype=float).reshape(broadcast[0].shape)


def clopper_pearson(count, total, alpha: float):
    """One-sided (1 - alpha) Clopper-Pearson bounds of count/total: (lower, upper), floats for
    scalar counts, arrays for arrays.

    Each end holds with probability at least 1 - alpha on its own (statsmodels'
    two-sided interval at level 2 * alpha, as the original computes it).
    """
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    if np.ndim(count) == 0 and np.ndim(total) == 0:
        lower, upper = proportion_confint(count, total, alpha=2 * alpha, method="beta")
        return float(lower), float(upper)
    count, total = np.broadcast_arrays(np.asarray(count, dtype=np.int64), np.asarray(total, dtype=np.int64))
    lower, upper = proportion_confint(count, total, alpha=2 * alpha, method="beta")
    return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def _top2(sigma: float, pa_lower: float, pb_upper: float) -> float:
    return 0.5 * sigma * (_inv_phi(pa_lower) - _inv_phi(pb_upper))


def top2_radius(sigma: float, pa_lower, pb_upper):
    """Top-2 l2 radius: sigma/2 * (inv_Phi(pA_lower) - inv_Phi(pB_upper))."""
    return _elementwise(_top2, sigma, pa_lower, pb_upper)


def _top1(sigma: float, pa_lower: float) -> float:
    return sigma * _inv_phi(pa_lower)


def cohen_radius(sigma: float, pa_lower):
    """Top-1 l2 radius (Cohen et al.): sigma * inv_Phi(pA_lower)."""
    return _elementwise(_top1, sigma, pa_lower)


def linf_radius(radius_l2, dimension: int):
    """An l-inf ball of radius r lies inside the l2 ball of radius r * sqrt(d)."""
    return radius_l2 / math.sqrt(dimension)

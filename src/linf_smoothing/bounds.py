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


def clopper_pearson(count: int, total: int, alpha: float) -> tuple[float, float]:
    """One-sided (1 - alpha) Clopper-Pearson bounds of count/total: (lower, upper).

    Each end holds with probability at least 1 - alpha on its own (statsmodels'
    two-sided interval at level 2 * alpha, as the original computes it).
    """
    from statsmodels.stats.proportion import proportion_confint

    lower, upper = proportion_confint(count, total, alpha=2 * alpha, method="beta")
    return float(lower), float(upper)


def top2_radius(sigma: float, pa_lower: float, pb_upper: float) -> float:
    """Top-2 l2 radius: sigma/2 * (inv_Phi(pA_lower) - inv_Phi(pB_upper))."""
    return 0.5 * sigma * (_inv_phi(pa_lower) - _inv_phi(pb_upper))


def cohen_radius(sigma: float, pa_lower: float) -> float:
    """Top-1 l2 radius (Cohen et al.): sigma * inv_Phi(pA_lower)."""
    return sigma * _inv_phi(pa_lower)


def linf_radius(radius_l2: float, dimension: int) -> float:
    """An l-inf ball of radius r lies inside the l2 ball of radius r * sqrt(d)."""
    return radius_l2 / math.sqrt(dimension)


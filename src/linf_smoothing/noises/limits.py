"""Bounds that no certificate can pass: the barrier the figures draw beside measured radii.

(The other limit, the largest radius a run's N and alpha can certify, is ``Noise.ceiling``.)
"""
from __future__ import annotations

import math

from linf_smoothing.noises.base import check_dimension, check_sigma, is_number


def iid_radius_bound(sigma: float, pa, dimension: int, p: float = math.inf):
    """Kumar, Levine, Goldstein and Feizi (2020, "Curse of Dimensionality on Randomized
    Smoothing for Certifiable Robustness", ICML), Theorem 1: for any smoothing noise with
    i.i.d. coordinates of variance sigma^2, a certificate of the l_p radius (p > 2) that knows
    of the smoothed classifier only that its top class has probability pa can certify at most

        R_p <= sigma / (sqrt(2 (1 - pa)) * d^(1/2 - 1/p))

    (d^(1/2) for l-inf): it shrinks like 1 / sqrt(d), whatever the i.i.d. noise. The inequality
    as their code computes it (github.com/alevine0/smoothingGenGaussian, code/core.py line 82,
    ``radius_any_distr``, commit cc8c1ba); their printed values are reproduced in
    tests/test_noises.py. It bounds the i.i.d. noises here (gaussian, laplace, uniform,
    generalized_gaussian), not expinf or uniform_ball, whose coordinates are dependent.

    ``pa`` in (0, 1) (an array elementwise); returns float64 (inf where pa = 1).
    """
    import numpy as np

    check_sigma(sigma)
    check_dimension(dimension)
    if not (is_number(p) and p > 2):
        raise ValueError(f"p = {p!r}: Kumar et al.'s bound is for l_p norms with p > 2 (math.inf for l-inf)")
    pa = np.asarray(pa, dtype=np.float64)
    if np.any((pa <= 0) | (pa > 1) | np.isnan(pa)):
        raise ValueError("pa holds a value outside (0, 1]: it is the top class's probability")
    with np.errstate(divide="ignore"):
        return sigma / (np.sqrt(2 * (1 - pa)) * dimension ** (0.5 - 1 / p))

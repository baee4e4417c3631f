"""Certificates of a smoothed classifier computed from vote counts, without sampling again.

A certification run samples the base classifier f once per image: ``selection`` counts
(n0 noisy copies, which choose the classes) and independent ``estimation`` counts (n noisy
copies, which bound their probabilities), one count per class. Every variant below is a
function of those two count vectors, so one run certifies every way, and a variant added
later can be computed from stored counts.

Notation: p_c = P(f(x + eta) = c) for eta ~ N(0, sigma^2 I); cA = the selection's top class.
Cohen et al. (2019, Theorem 1): if p_cA >= pA_lower and max_{c != cA} p_c <= pB_upper with
pA_lower > pB_upper, then g(x + delta) = cA for every ||delta||_2 < sigma/2 *
(inv_Phi(pA_lower) - inv_Phi(pB_upper)). A certificate is sound at level alpha if, with
probability at least 1 - alpha over the sampling, the radius it reports is not larger than
the one the theorem gives with the true probabilities.

- ``cohen`` (Cohen et al.'s CERTIFY): pA_lower is the one-sided (1 - alpha) Clopper-Pearson
  bound of nA/n; pB_upper = 1 - pA_lower (which bounds every other class whenever pA_lower
  holds); abstain if pA_lower < 1/2, else R = sigma * inv_Phi(pA_lower). **Sound**.
- ``sound_top2``: pA_lower at level alpha/2; for every class c != cA an upper bound at level
  alpha / (2 (K - 1)) (K classes), and pB_upper = min(max of those bounds, 1 - pA_lower);
  abstain if pA_lower <= pB_upper, else the top-2 radius above. **Sound**. Proof sketch: the
  selection is independent of the estimation samples, so given cA each bound holds at its
  level; by the union bound all K bounds hold together with probability >= 1 - alpha; on
  that event p_cA >= pA_lower and every other p_c <= its bound, and p_c <= 1 - p_cA <=
  1 - pA_lower, so max_{c != cA} p_c <= pB_upper and the theorem applies. With two
  classes pB_upper = 1 - pA_lower, Cohen's radius at level alpha/2.
- ``blum`` (the original's, Blum et al. 2020; needed for the paper's published numbers):
  cB = the selection's runner-up, pA_lower and pB_upper = the one-sided Clopper-Pearson
  bounds of nA/n and nB/n, *each* at level alpha; abstain if pA_lower < pB_upper, else the
  top-2 radius. **Not sound in general**: pB_upper bounds the chosen runner-up alone, not the
  largest other class, and the two bounds hold jointly only at level 2 alpha. Where another
  class has more mass than cB the radius is too large (``scripts/coverage.py`` measures how
  often). With two classes it is sound at level 2 alpha.

Every radius is an l2 radius; ``linf_radius`` turns it into the l-inf one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from linf_smoothing.bounds import clopper_pearson, cohen_radius, linf_radius, top2_radius

ABSTAIN = -1
VARIANTS = ("blum", "cohen", "sound_top2")
SOUND_VARIANTS = ("cohen", "sound_top2")


@dataclass(frozen=True)
class Certificate:
    predict: int          # cA, or ABSTAIN
    radius_l2: float      # 0.0 on abstention
    radius_linf: float    # radius_l2 / sqrt(d)
    pa_lower: float
    pb_upper: float       # the bound on the runner-up's probability the radius used
    count_a: int
    count_b: int          # estimation count of the selection's runner-up


def _top_two(selection: np.ndarray) -> tuple[int, int]:
    # Stable sort: ties go to the lower class index, so runs are repeatable.
    order = np.argsort(-np.asarray(selection), kind="stable")
    return int(order[0]), int(order[1])


def certify_counts(selection: Sequence[int], estimation: Sequence[int], sigma: float, alpha: float,
                   variant: str, dimension: int) -> Certificate:
    """The ``variant`` certificate (see the module docstring) of an image whose base
    classifier voted ``selection`` (n0 samples) and ``estimation`` (n samples) per class."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown certificate variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    estimation = np.asarray(estimation, dtype=np.int64)
    n = int(estimation.sum())
    c_a, c_b = _top_two(selection)
    count_a, count_b = int(estimation[c_a]), int(estimation[c_b])
    if variant == "cohen":
        pa_lower = clopper_pearson(count_a, n, alpha)[0]
        pb_upper = 1.0 - pa_lower
        if pa_lower < 0.5:
            return Certificate(ABSTAIN, 0.0, 0.0, pa_lower, pb_upper, count_a, count_b)
        radius = cohen_radius(sigma, pa_lower)
    else:
        if variant == "blum":
            pa_lower = clopper_pearson(count_a, n, alpha)[0]
            pb_upper = clopper_pearson(count_b, n, alpha)[1]
        else:
            pa_lower = clopper_pearson(count_a, n, alpha / 2)[0]
            # The Clopper-Pearson upper bound grows with the count: the largest other count's is the max.
            others = np.delete(estimation, c_a)
            largest_other = clopper_pearson(int(others.max()), n, alpha / (2 * len(others)))[1]
            pb_upper = min(largest_other, 1.0 - pa_lower)
        if pa_lower < pb_upper or (variant == "sound_top2" and pa_lower == pb_upper):
            return Certificate(ABSTAIN, 0.0, 0.0, pa_lower, pb_upper, count_a, count_b)
        radius = top2_radius(sigma, pa_lower, pb_upper)
    return Certificate(c_a, radius, linf_radius(radius, dimension), pa_lower, pb_upper, count_a, count_b)


def max_certifiable_radius(sigma: float, n: int, alpha: float, dimension: int, variant: str = "blum") -> float:
    """The l-inf radius when all n samples vote for one class: no certificate of ``variant``
    can exceed it. Then pA_lower = a^(1/n) at the variant's level a for pA (alpha; alpha/2 for
    sound_top2) and every variant's radius is sigma * inv_Phi(a^(1/n))."""
    level = alpha / 2 if variant == "sound_top2" else alpha
    return linf_radius(cohen_radius(sigma, level ** (1.0 / n)), dimension)


def format_counts(counts: Sequence[int]) -> str:
    """Per-class counts as one TSV field: comma-separated integers."""
    return ",".join(str(int(c)) for c in counts)


def parse_counts(field: str) -> np.ndarray:
    return np.asarray([int(c) for c in str(field).split(",")], dtype=np.int64)


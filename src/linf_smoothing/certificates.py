"""Certificates of a smoothed classifier computed from vote counts, without sampling again.

A certification run samples the base classifier f once per image: ``selection`` counts
(n0 noisy copies, which choose the classes) and independent ``estimation`` counts (n noisy
copies, which bound their probabilities), one count per class. Every variant below is a
function of those two count vectors, so one run certifies every way, and a variant added
later can be computed from stored counts.

Notation: p_c = P(f(x + eta) = c) for the smoothing noise eta (N(0, sigma^2 I) in the paper);
cA = the selection's top class.
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

Those are Gaussian forms. The smoothing noise (``linf_smoothing.noises``; Gaussian unless
named) turns pA_lower into a radius in each norm (l1, l2, l-inf): its best sound one, from the
norms it certifies directly and their conversions by the norm inequalities (``Noise.radius``).
For another noise only ``cohen``'s top-1 form applies (Cohen et al.'s argument holds for any
noise whose top-1 radius is a function of pA_lower; no top-2 form is proven here for them).
With the Gaussian, the l-inf radius is the l2 radius / sqrt(d) and the l1 radius the l2 radius.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from linf_smoothing.bounds import clopper_pearson, linf_radius, top2_radius
from linf_smoothing.noises import Gaussian, Noise, check_norm, check_sigma, is_number

ABSTAIN = -1
VARIANTS = ("blum", "cohen", "sound_top2")
SOUND_VARIANTS = ("cohen", "sound_top2")


@dataclass(frozen=True)
class Certificate:
    predict: int          # cA, or ABSTAIN
    radius_l2: float      # 0.0 on abstention; every radius is the noise's best sound one in its norm
    radius_linf: float    # Gaussian: radius_l2 / sqrt(d)
    pa_lower: float
    pb_upper: float       # the bound on the runner-up's probability the radius used
    count_a: int
    count_b: int          # estimation count of the selection's runner-up
    radius_l1: float      # Gaussian: radius_l2


def check_alpha(alpha: float) -> None:
    if not (is_number(alpha) and 0 < alpha < 1):
        raise ValueError(f"alpha = {alpha!r}: the failure probability must lie strictly between 0 and 1")


def check_arguments(sigma: float, alpha: float, dimension: int) -> None:
    """Refuse a noise level, failure probability or input dimension no certificate can use."""
    check_sigma(sigma)
    check_alpha(alpha)
    if not (isinstance(dimension, (int, np.integer)) and not isinstance(dimension, bool) and dimension >= 1):
        raise ValueError(f"dimension = {dimension!r}: the input dimension d must be an integer of at least 1")


def as_count_matrix(counts, what: str) -> np.ndarray:
    """Per-class vote counts as an int64 matrix (one row per image), refusing what no sampling gives."""
    try:
        matrix = np.asarray(counts)
    except ValueError:
        raise ValueError(f"{what} counts have rows of different lengths") from None
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.dtype == object:
        raise ValueError(f"{what} counts must be one count per class for each image")
    if matrix.size and not np.all(np.isfinite(matrix.astype(float))):
        raise ValueError(f"{what} counts hold a value that is not a finite number")
    if matrix.size and not np.array_equal(matrix, np.round(matrix)):
        raise ValueError(f"{what} counts hold a value that is not an integer")
    matrix = matrix.astype(np.int64)
    if matrix.shape[1] < 2:
        raise ValueError(f"{what} counts have {matrix.shape[1]} class(es): a classifier needs at least 2")
    if (matrix < 0).any():
        raise ValueError(f"{what} counts hold a negative count")
    return matrix


def _top_two(selection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Stable sort: ties go to the lower class index, so runs are repeatable.
    order = np.argsort(-selection, axis=1, kind="stable")
    return order[:, 0], order[:, 1]


def smoothing_noise(noise: Noise | None, sigma: float, dimension: int) -> Noise:
    """``noise``, or the Gaussian at sigma in dimension d where it is None; refuses a noise whose
    sigma or d is not the certificate's."""
    if noise is None:
        return Gaussian(sigma, dimension)
    if not isinstance(noise, Noise):
        raise ValueError(f"noise = {noise!r}: give a linf_smoothing.noises.Noise (make_noise builds one)")
    if noise.sigma != sigma or noise.dimension != dimension:
        raise ValueError(f"the noise has sigma {noise.sigma} and d {noise.dimension} where the certificate has sigma "
                         f"{sigma} and d {dimension}: build the noise with the certificate's")
    return noise


def check_variant(variant: str, noise: Noise) -> None:
    """Refuse an unknown variant, or a Gaussian top-2 form for another noise."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown certificate variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if variant not in noise.variants:
        raise ValueError(f"the {variant} certificate is a top-2 form proven for Gaussian noise only: certify the "
                         f"{noise.name} noise with the cohen certificate")


def certify_many(selection, estimation, sigma: float, alpha: float, variant: str,
                 dimension: int, noise: Noise | None = None) -> dict[str, np.ndarray]:
    """``certify_counts`` for many images at once: ``selection`` and ``estimation`` are (images,
    classes) count matrices; returns one array per field of ``Certificate``. Raises ValueError
    for arguments no sampling gives (see ``certify_counts``)."""
    check_arguments(sigma, alpha, dimension)
    noise = smoothing_noise(noise, sigma, dimension)
    check_variant(variant, noise)
    selection, estimation = as_count_matrix(selection, "selection"), as_count_matrix(estimation, "estimation")
    if selection.shape != estimation.shape:
        raise ValueError(f"selection counts have shape {selection.shape} and estimation counts {estimation.shape}: "
                         "both need one count per class of the same classes")
    for what, matrix in (("selection", selection), ("estimation", estimation)):
        if (matrix.sum(axis=1) < 1).any():
            raise ValueError(f"{what} counts of an image sum to 0: it needs at least one sample (n0, n >= 1)")
    images, classes = estimation.shape
    rows = np.arange(images)
    n = estimation.sum(axis=1)
    c_a, c_b = _top_two(selection)
    count_a, count_b = estimation[rows, c_a], estimation[rows, c_b]
    if variant == "cohen":
        pa_lower = clopper_pearson(count_a, n, alpha)[0]
        pb_upper = 1.0 - pa_lower
        certified = pa_lower >= 0.5
        radii = noise.radii(pa_lower)
    else:
        if variant == "blum":
            pa_lower = clopper_pearson(count_a, n, alpha)[0]
            pb_upper = clopper_pearson(count_b, n, alpha)[1]
            certified = pa_lower >= pb_upper
        else:
            pa_lower = clopper_pearson(count_a, n, alpha / 2)[0]
            # The Clopper-Pearson upper bound grows with the count: the largest other count's is the max.
            others = estimation.copy()
            others[rows, c_a] = -1
            largest_other = clopper_pearson(others.max(axis=1), n, alpha / (2 * (classes - 1)))[1]
            pb_upper = np.minimum(largest_other, 1.0 - pa_lower)
            certified = pa_lower > pb_upper
        radius = np.where(certified, top2_radius(sigma, np.where(certified, pa_lower, 0.5),
                                                 np.where(certified, pb_upper, 0.5)), 0.0)
        radii = {"l1": radius, "l2": radius, "linf": linf_radius(radius, dimension)}
    # A bound that is not finite (no sampling gives one) never yields a certificate.
    certified &= np.isfinite(pa_lower) & np.isfinite(pb_upper) & np.isfinite(radii["l2"])
    return {"predict": np.where(certified, c_a, ABSTAIN), "radius_l2": np.where(certified, radii["l2"], 0.0),
            "radius_linf": np.where(certified, radii["linf"], 0.0), "pa_lower": pa_lower, "pb_upper": pb_upper,
            "count_a": count_a, "count_b": count_b, "radius_l1": np.where(certified, radii["l1"], 0.0)}


def certify_counts(selection: Sequence[int], estimation: Sequence[int], sigma: float, alpha: float,
                   variant: str, dimension: int, noise: Noise | None = None) -> Certificate:
    """The ``variant`` certificate (see the module docstring) of an image whose base
    classifier voted ``selection`` (n0 samples) and ``estimation`` (n samples) per class under
    ``noise`` (the Gaussian at sigma if None; its sigma and d must be the arguments').

    Raises ValueError unless sigma is finite and positive, 0 < alpha < 1, d >= 1, the two
    count vectors are non-negative integers of one length >= 2 (classes) and each sums to at
    least 1, and unless the variant is ``cohen`` where the noise is not Gaussian."""
    if np.ndim(selection) != 1 or np.ndim(estimation) != 1:
        raise ValueError("certify_counts takes one image's counts: one count per class (certify_many takes many)")
    many = certify_many(selection, estimation, sigma, alpha, variant, dimension, noise)
    return Certificate(int(many["predict"][0]), float(many["radius_l2"][0]), float(many["radius_linf"][0]),
                       float(many["pa_lower"][0]), float(many["pb_upper"][0]), int(many["count_a"][0]),
                       int(many["count_b"][0]), float(many["radius_l1"][0]))


def max_certifiable_radius(sigma: float, n: int, alpha: float, dimension: int, variant: str = "blum",
                           noise: Noise | None = None, norm: str = "linf") -> float:
    """The ``norm`` radius when all n samples vote for one class: no certificate of ``variant``
    under ``noise`` (the Gaussian at sigma if None) can exceed it. Then pA_lower = a^(1/n) at the
    variant's level a for pA (alpha; alpha/2 for sound_top2), and every variant's radius is the
    top-1 radius at a^(1/n) (``Noise.ceiling``)."""
    check_arguments(sigma, alpha, dimension)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n = {n!r}: the number of samples must be an integer of at least 1")
    check_norm(norm)
    noise = smoothing_noise(noise, sigma, dimension)
    return noise.ceiling(n, alpha / 2 if variant == "sound_top2" else alpha, norm)


def format_counts(counts: Sequence[int]) -> str:
    """Per-class counts as one TSV field: comma-separated integers."""
    return ",".join(str(int(c)) for c in counts)


def parse_counts(field: str) -> np.ndarray:
    return np.asarray([int(c) for c in str(field).split(",")], dtype=np.int64)


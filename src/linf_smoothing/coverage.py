"""How often a certificate claims too much, on base classifiers whose smoothed class
probabilities and exact robust radius are known in closed form.

An *interval classifier* labels z by the interval of its first coordinate z_1 (boundaries
t_1 < ... < t_{K-1}, one class per interval). Under a noise eta whose first coordinate has
distribution function F (``Noise.coordinate_cdf``; Phi(t / sigma) for the Gaussian) its
smoothed probability of the class of interval (t_k, t_{k+1}) at x is
F(t_{k+1} - x_1) - F(t_k - x_1), which depends on x_1 alone, so the smoothed classifier g
changes its decision at x + delta only through delta_1, and |delta_1| <= ||delta|| in every l_p
norm with equality along the axis: its exact robust radius at x, in every norm, is the smallest
|s| at which argmax_c p_c(x_1 + s) changes (found by a grid search refined by bisection,
``exact_radius``).

The votes of such a classifier on n noisy copies are a multinomial draw with those
probabilities, so ``failure_rate`` draws the selection and estimation counts directly and
certifies each draw with ``certificates.certify_many``: a run *fails* when it certifies a
class other than g(x), or g(x) with a radius larger than the exact one. A certificate that
is sound at level alpha fails in at most a fraction alpha of runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from linf_smoothing.certificates import ABSTAIN, certify_many
from linf_smoothing.noises import Gaussian, Noise, check_norm, make_noise

_normal = NormalDist()


@dataclass(frozen=True)
class IntervalClassifier:
    """Class ``labels[k]`` on the k-th interval of z_1 cut at ``boundaries`` (increasing),
    smoothed by ``noise``."""

    name: str
    boundaries: tuple[float, ...]
    labels: tuple[int, ...]
    noise: Noise

    @property
    def sigma(self) -> float:
        return self.noise.sigma

    @property
    def num_classes(self) -> int:
        return max(self.labels) + 1

    def probabilities(self, x1=0.0) -> np.ndarray:
        """Smoothed class probabilities at points whose first coordinate is ``x1`` (a number:
        shape (K,); an array: one row per point)."""
        x1 = np.asarray(x1, dtype=float)
        cuts = ([np.zeros_like(x1)] + [self.noise.coordinate_cdf(t - x1) for t in self.boundaries]
                + [np.ones_like(x1)])
        p = np.zeros(x1.shape + (self.num_classes,))
        for label, low, high in zip(self.labels, cuts[:-1], cuts[1:]):
            p[..., label] += high - low
        return p

    def exact_radius(self, x1: float = 0.0, reach: float = 10.0, steps: int = 20_000) -> float:
        """The exact l2 robust radius of g at x: the distance to the nearest x_1 + s where the
        argmax changes (inf if none within ``reach`` sigma)."""
        top = int(np.argmax(self.probabilities(x1)))
        grid = np.linspace(0.0, reach * self.sigma, steps)
        best = np.inf
        for direction in (1.0, -1.0):
            changed = np.flatnonzero(np.argmax(self.probabilities(x1 + direction * grid), axis=-1) != top)
            if not len(changed):
                continue
            low, high = grid[changed[0] - 1], grid[changed[0]]
            for _ in range(60):
                mid = (low + high) / 2
                if int(np.argmax(self.probabilities(x1 + direction * mid))) != top:
                    high = mid
                else:
                    low = mid
            best = min(best, high)
        return best


def binary_linear(margin: float = 0.64, sigma: float = 0.5, noise: str = "gaussian", dimension: int = 1,
                  **parameters) -> IntervalClassifier:
    """Two classes cut by a hyperplane at distance ``margin`` from x, smoothed by the noise
    ``noise`` (with its ``parameters``) in dimension d: exact radius ``margin`` in every norm.
    Under the Gaussian every variant's radius with the true probabilities is tight; under
    another noise, the radii it certifies tightly along an axis (docs/noises.md)."""
    return IntervalClassifier("binary linear", (margin,), (0, 1), make_noise(noise, sigma, dimension, **parameters))


def three_class(sigma: float = 1.0) -> IntervalClassifier:
    """docs/certificates.md's case: smoothed probabilities 0.90 / 0.045 / 0.055 at x, where the exact radius
    equals the top-2 formula with the true probabilities, sigma/2 (inv_Phi(.9) - inv_Phi(.055))
    = 1.4399 sigma, and a top-2 certificate is tight."""
    return IntervalClassifier("three classes", (sigma * _normal.inv_cdf(0.9), sigma * _normal.inv_cdf(0.945)),
                              (0, 1, 2), Gaussian(sigma, 1))


def ten_class(sigma: float = 1.0) -> IntervalClassifier:
    """Ten classes: the top one (0.85) on a half-line, the runner-up (0.06) on the other
    half-line, and eight narrow intervals between them holding 0.09, none above 0.02. The
    exact radius again equals the top-2 formula with the true probabilities,
    sigma/2 (inv_Phi(.85) - inv_Phi(.06)), and the selection often picks a middle class as
    runner-up."""
    masses = [0.85, 0.02, 0.01, 0.015, 0.01, 0.012, 0.008, 0.01, 0.005]
    boundaries = sigma * np.array([_normal.inv_cdf(c) for c in np.cumsum(masses)])
    return IntervalClassifier("ten classes", tuple(boundaries), (3, 0, 9, 1, 8, 2, 6, 4, 5, 7), Gaussian(sigma, 1))


CASES = {"binary": binary_linear, "three": three_class, "ten": ten_class}


def failure_rate(case: IntervalClassifier, variant: str, n0: int, n: int, alpha: float, runs: int,
                 seed: int = 0, norm: str = "l2") -> float:
    """Share of ``runs`` independent certifications of x (x_1 = 0) that certify a wrong class or
    a ``norm`` radius beyond the exact one."""
    check_norm(norm)
    p = case.probabilities()
    truth, exact = int(np.argmax(p)), case.exact_radius()
    rng = np.random.default_rng(seed)
    selections = rng.multinomial(n0, p, size=runs)
    estimations = rng.multinomial(n, p, size=runs)
    certs = certify_many(selections, estimations, case.sigma, alpha, variant, case.noise.dimension, case.noise)
    certified = certs["predict"] != ABSTAIN
    failures = certified & ((certs["predict"] != truth) | (certs[f"radius_{norm}"] > exact))
    return float(failures.sum() / runs)

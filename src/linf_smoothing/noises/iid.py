"""Noises with independent, identically distributed coordinates.

Every certificate here is for the top-1 form (``base.Noise.radius``); pa stands for the lower
bound pa_lower in (1/2, 1) of the top class's probability, lambda for ``Noise.scale``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

from linf_smoothing.bounds import cohen_radius
from linf_smoothing.noises.base import Noise, is_number


@dataclass(frozen=True)
class Gaussian(Noise):
    """eta ~ N(0, sigma^2 I): lambda = sigma.

    Sampler: ``sigma * torch.randn`` (and ``normal_(0, sigma)`` in place), the draws every
    Gaussian model and certification of this project always made, bit for bit.

    Certificate: l2, sigma * inv_Phi(pa) (Cohen et al. 2019, Theorem 1; rs4a
    ``Gaussian.certify_l2``), tight for a half-space in any direction, so its conversions are
    tight too: l1 (a shift along an axis) and l-inf (a shift to a corner of the cube, whose l2
    norm is sqrt(d) times its l-inf norm).
    """

    name = "gaussian"
    title = "Gaussian"
    variants = ("blum", "cohen", "sound_top2")  # the top-2 forms are the Gaussian's
    iid = True
    direct_norms = ("l2",)

    def rms_at_unit_scale(self) -> float:
        return 1.0

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        self.draws(shape)
        return self.sigma * torch.randn(shape, device=device, dtype=dtype, generator=generator)

    def sample_(self, out, generator=None):
        return out.normal_(0.0, self.sigma, generator=generator)

    def direct_radius(self, pa, norm):
        import numpy as np

        below_one = pa < 1  # inv_Phi(1) is infinite: NormalDist refuses it
        return np.where(below_one, cohen_radius(self.sigma, np.where(below_one, pa, 0.75)), np.inf)

    def coordinate_cdf(self, t):
        import numpy as np

        standard = NormalDist()
        return np.vectorize(lambda value: standard.cdf(value / self.sigma), otypes=[float])(t)


@dataclass(frozen=True)
class Laplace(Noise):
    """eta_i iid with density exp(-|x| / lambda) / (2 lambda): variance 2 lambda^2 per
    coordinate, so lambda = sigma / sqrt(2).

    Sampler: lambda (E1 - E2) with E1, E2 independent Exp(1) draws (``exponential_``): the
    difference of two independent standard exponentials is standard Laplace (its
    characteristic function is 1/(1 - it) * 1/(1 + it) = 1/(1 + t^2)).

    Certificates:

    - l1: -lambda log(2 (1 - pa)) (Teng et al. 2020; Yang et al. 2020, Table 1; rs4a
      ``Laplace.certify_l1``): the one-dimensional worst case, tight for a half-space across
      one coordinate.
    - l-inf: Yang et al.'s (2020) differential method: R = lambda * integral from 1 - pa to
      1/2 of dp / Phi(p), where Phi(p) is the largest rate at which a set of probability p can
      gain probability when the noise moves in an l-inf unit direction. Moving towards a
      corner, the rate of a set U is E[D; U] with D = sum_i sign(eta_i) = 2 B - d,
      B ~ Binomial(d, 1/2), largest for U the top p of D (rs4a ``Laplace.Phi_linf``,
      src/noises/noises.py lines 262-274). Phi is linear between D's atoms, so the integral is
      a sum of closed-form pieces (``_laplace_linf_radius``): exact in float64, no table, no quad.
      rs4a evaluates it with scipy's quad (``_certify_linf_integrate``, to quad's tolerance)
      or, in its "integrate" mode, from an interpolated table; its default "approx" mode
      returns lambda * inv_Phi(pa) / sqrt(d) instead, an approximation, not a certificate. The method is sound for every
      d and tight for d = 1 (where it is the l1 radius); for d > 1 it is a lower bound on the
      exact radius (tests/test_noises.py measures the gap on corner shifts).
    """

    name = "laplace"
    title = "Laplace"
    iid = True
    direct_norms = ("l1", "linf")

    def rms_at_unit_scale(self) -> float:
        return math.sqrt(2.0)

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        self.draws(shape)
        pair = torch.empty((2, *shape), device=device, dtype=dtype).exponential_(generator=generator)
        return self.scale * (pair[0] - pair[1])

    def direct_radius(self, pa, norm):
        import numpy as np

        if norm == "l1":
            return -self.scale * np.log(2.0 * (1.0 - pa))
        return self.scale * _laplace_linf_radius(1.0 - pa, self.dimension)

    def coordinate_cdf(self, t):
        import numpy as np

        z = np.asarray(t, dtype=float) / self.scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0)))


@functools.lru_cache(maxsize=64)
def _laplace_linf_pieces(dimension: int):
    """The pieces of integral from p0 to 1/2 of dp / Phi(p) for Laplace noise at lambda = 1 towards
    a corner (``Laplace``): one piece per atom k of B ~ Binomial(d, 1/2) with D = 2k - d >= 0.

    On piece k, p runs over [S_{k+1}, min(S_k, 1/2)] (S_k = P(B >= k)): the top-p set holds every
    atom above k and part of atom k, so Phi(p) = E[D; B >= k+1] + (2k - d) (p - S_{k+1}), where
    E[D; B >= k+1] = d/2 * P(B' = k), B' ~ Binomial(d - 1, 1/2) (from E[B; B >= j] =
    d/2 * P(B' >= j - 1)), without cancellation. Returns (lower, upper, slope, base, above): per
    piece, its ends, Phi's slope and its value at ``lower``, and the integral from ``upper`` to 1/2.
    """
    import numpy as np
    from scipy.stats import binom

    atoms = np.arange(math.ceil(dimension / 2), dimension + 1)
    upper = np.minimum(binom.sf(atoms - 1, dimension, 0.5), 0.5)
    atoms, upper = atoms[upper > 0], upper[upper > 0]  # atoms far in the tail underflow: no p0 reaches them
    lower = binom.sf(atoms, dimension, 0.5)
    slope = (2 * atoms - dimension).astype(float)
    base = dimension / 2 * binom.pmf(atoms, dimension - 1, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):  # the last piece starts at Phi = 0: never integrated whole
        whole = _piece_integral(slope, base, upper - lower)
    above = np.concatenate([[0.0], np.cumsum(whole[:-1])])
    return lower, upper, slope, base, above


def _piece_integral(slope, start, width):
    """integral over [p, p + width] of dq / (start + slope (q - p)), for slope >= 0."""
    import numpy as np

    safe = np.where(slope > 0, slope, 1.0)
    return np.where(slope > 0, np.log1p(safe * width / start) / safe, width / start)


def _laplace_linf_radius(p0, dimension: int):
    """integral from p0 to 1/2 of dp / Phi(p) (lambda = 1) for p0 in (0, 1/2), elementwise."""
    import numpy as np

    lower, upper, slope, base, above = _laplace_linf_pieces(dimension)
    p0 = np.asarray(p0, dtype=float)
    piece = np.searchsorted(-lower, -p0, side="left")  # the first piece whose lower end is <= p0
    start = base[piece] + slope[piece] * (p0 - lower[piece])
    return above[piece] + _piece_integral(slope[piece], start, upper[piece] - p0)


@dataclass(frozen=True)
class Uniform(Noise):
    """eta uniform on the cube [-lambda, lambda]^d: variance lambda^2 / 3 per coordinate, so
    lambda = sqrt(3) sigma.

    Sampler: ``uniform_(-lambda, lambda)``, independent coordinates.

    Certificates (Lee et al. 2019; Yang et al. 2020; rs4a ``Uniform.certify_l1`` and
    ``certify_linf``, src/noises/noises.py lines 159-163). The noise and its shift by delta share
    a density on their overlap, so the worst classifier puts the class's probability first where
    the shifted noise never reaches: the top class keeps pa - m, m = 1 - prod_i (1 - |delta_i| /
    (2 lambda)) the mass outside the overlap.

    - l1: m <= ||delta||_1 / (2 lambda), so R = 2 lambda (pa - 1/2); tight along an axis.
    - l-inf: m is largest at a corner, 1 - (1 - r / (2 lambda))^d, so R = 2 lambda (1 -
      (1.5 - pa)^(1/d)); tight at a corner. Computed as -2 lambda expm1(log1p(0.5 - pa) / d),
      without the cancellation of 1 - (1.5 - pa)^(1/d) at large d: rs4a evaluates the latter in
      the precision of its probability, and from a float32 pa its radius can exceed the exact one.
    """

    name = "uniform"
    title = "uniform (cube)"
    iid = True
    direct_norms = ("l1", "linf")

    def rms_at_unit_scale(self) -> float:
        return 1 / math.sqrt(3.0)

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        self.draws(shape)
        return self.sample_(torch.empty(shape, device=device, dtype=dtype), generator)

    def sample_(self, out, generator=None):
        return out.uniform_(-self.scale, self.scale, generator=generator)

    def direct_radius(self, pa, norm):
        import numpy as np

        if norm == "l1":
            return 2 * self.scale * (pa - 0.5)
        return -2 * self.scale * np.expm1(np.log1p(0.5 - pa) / self.dimension)

    def coordinate_cdf(self, t):
        import numpy as np

        return np.clip((np.asarray(t, dtype=float) / self.scale + 1) / 2, 0.0, 1.0)


@dataclass(frozen=True)
class GeneralizedGaussian(Noise):
    """eta_i iid with density proportional to exp(-|x / lambda|^p), shape p >= 1 (Kumar et al.
    2020's family; p = 1 is Laplace, p = 2 the Gaussian at lambda = sqrt(2) sigma): variance
    lambda^2 Gamma(3/p) / Gamma(1/p) per coordinate.

    Sampler: |eta_i / lambda|^p ~ Gamma(1/p, 1) with a fair random sign, which is this density
    (change variables g = |x / lambda|^p: the density of g is g^(1/p - 1) e^-g / Gamma(1/p));
    the gamma draws are torch's (``torch._standard_gamma``, the sampler behind
    torch.distributions.Gamma, which takes the generator), the sign ``bernoulli_(1/2)``.

    Certificate: l1, lambda * (Q^-1(1/p, 2 (1 - pa)))^(1/p), the pa-quantile of one coordinate
    (Q the regularized upper incomplete gamma function; rs4a ``Expp.certify_l1`` for p >= 1,
    src/noises/noises.py lines 954-958, as gamma(1/p).ppf(2 pa - 1)). For p >= 1 the density is
    log-concave, the differential method's rate is largest along an axis (a vertex of the l1
    ball), and in one dimension the half-line is the worst set all the way: tight along an axis.
    Below p = 1 the formula does not hold, so p < 1 is refused.
    """

    p: float

    name = "generalized_gaussian"
    title = "generalized Gaussian"
    iid = True
    direct_norms = ("l1",)

    def check_parameters(self) -> None:
        if not (is_number(self.p) and math.isfinite(self.p) and self.p >= 1):
            raise ValueError(f"p = {self.p!r}: the generalized Gaussian's shape p must be a finite number of at "
                             "least 1 (its l1 certificate needs a log-concave density)")

    def rms_at_unit_scale(self) -> float:
        return math.exp(0.5 * (math.lgamma(3 / self.p) - math.lgamma(1 / self.p)))

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        self.draws(shape)
        magnitude = torch._standard_gamma(torch.full(shape, 1 / self.p, device=device, dtype=dtype),
                                          generator=generator)
        sign = torch.empty(shape, device=device, dtype=dtype).bernoulli_(0.5, generator=generator)
        return self.scale * (2 * sign - 1) * magnitude ** (1 / self.p)

    def direct_radius(self, pa, norm):
        from scipy.special import gammainccinv

        return self.scale * gammainccinv(1 / self.p, 2 * (1 - pa)) ** (1 / self.p)

    def coordinate_cdf(self, t):
        import numpy as np
        from scipy.special import gammainc

        t = np.asarray(t, dtype=float)
        return 0.5 + 0.5 * np.sign(t) * gammainc(1 / self.p, np.abs(t / self.scale) ** self.p)

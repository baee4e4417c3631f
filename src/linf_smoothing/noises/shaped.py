"""Noises whose density is a function of one norm of eta: their level sets are that norm's
balls, the shape Yang et al. (2020) show suits that norm's adversary.

pa stands for the lower bound pa_lower in (1/2, 1) of the top class's probability, lambda for
``Noise.scale``, d for the dimension.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from linf_smoothing.noises.base import Noise


@dataclass(frozen=True)
class ExpInf(Noise):
    """Density proportional to exp(-||x||_inf / lambda) (rs4a ``ExpInf`` with k = 1, j = 0):
    E||eta||^2 / d = lambda^2 (d + 1)(d + 2) / 3.

    Sampler: eta = G * V with G ~ Gamma(d + 1, lambda) (``torch._standard_gamma``) and V uniform
    on the cube [-1, 1]^d. Exact: the density of G V at x is the integral over g >= ||x||_inf of
    the Gamma density times (2g)^-d, and g^d e^(-g / lambda) / (d! lambda^(d+1)) * (2g)^-d
    integrates to exp(-||x||_inf / lambda) / (2^d d! lambda^d).

    Certificates:

    - l-inf: lambda log(1 / (2 (1 - pa))) (Yang et al. 2020; rs4a ``ExpInf.certify_linf``,
      src/noises/noises.py line 509). Tight at a corner: with m(x) = (max_i x_i + min_i x_i) / 2,
      ||x||_inf = (max_i x_i - min_i x_i) / 2 + |m(x)|, and the first term does not change along
      the diagonal, so m(eta) ~ Laplace(lambda) independently of eta's shape, a shift by r (1, ..,
      1) shifts m by r, and the worst case is Laplace's one-dimensional one.
    - l1: the differential method (Yang et al. 2020): moving along an axis, the rate of a set U is
      E[sign(eta_i) / lambda; U, i = argmax_j |eta_j|], whose top-p value is p / lambda up to
      p = 1/(2d) and 1/(2 d lambda) beyond, so R = 2 d lambda (pa - 1/2) where 1 - pa >= 1/(2d)
      (rs4a ``ExpInf.certify_l1``, line 503, whose gamma factor is d at k = 1, j = 0) and
      lambda (d - 1 + log(1 / (2 d (1 - pa)))) above, where rs4a keeps the linear form (its
      docstring notes that better radii exist there). Tight for d = 1 (Laplace's l1 radius).
    """

    name = "expinf"
    title = "exp(-‖x‖∞/λ)"
    iid = False
    direct_norms = ("l1", "linf")

    def rms_at_unit_scale(self) -> float:
        d = self.dimension
        return math.sqrt((d + 1) * (d + 2) / 3)

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        draws, d = self.draws(shape), self.dimension
        radius = torch._standard_gamma(torch.full((draws, 1), d + 1.0, device=device, dtype=dtype),
                                       generator=generator)
        cube = torch.empty((draws, d), device=device, dtype=dtype).uniform_(-1.0, 1.0, generator=generator)
        return (self.scale * radius * cube).reshape(shape)

    def direct_radius(self, pa, norm):
        import numpy as np

        if norm == "linf":
            return -self.scale * np.log(2 * (1 - pa))
        d = self.dimension
        return self.scale * np.where(1 - pa >= 1 / (2 * d), 2 * d * (pa - 0.5),
                                     d - 1 - np.log(2 * d * np.minimum(1 - pa, 1 / (2 * d))))

    def coordinate_cdf(self, t):
        """P(G V_1 > s) = E[(1 - s/G)+] = Q(d + 1, s/lambda) - s/(d lambda) Q(d, s/lambda) for s >= 0
        (Q the regularized upper incomplete gamma function), symmetric about 0."""
        import numpy as np
        from scipy.special import gammaincc

        t = np.asarray(t, dtype=float)
        s, d = np.abs(t) / self.scale, self.dimension
        above = gammaincc(d + 1, s) - s / d * gammaincc(d, s)
        return np.where(t >= 0, 1 - above / 2, above / 2)


@dataclass(frozen=True)
class UniformBall(Noise):
    """eta uniform in the l2 ball of radius lambda (rs4a ``UniformBall``): E||eta||^2 / d =
    lambda^2 / (d + 2).

    Sampler: lambda U^(1/d) z / ||z|| with z ~ N(0, I_d) and U ~ U(0, 1): z / ||z|| is uniform on
    the sphere (the Gaussian is rotation invariant) and P(U^(1/d) <= r) = r^d is the share of the
    ball's volume within radius r.

    Certificate: l2, lambda (2 - 4 I^-1(0.75 - pa/2)) with I^-1 the inverse regularized
    incomplete beta function of parameters ((d+1)/2, (d+1)/2) (Yang et al. 2020; rs4a
    ``UniformBall.certify_l2``, src/noises/noises.py lines 382-385). The noise and its shift by
    delta share a density on the balls' intersection, whose share of one ball is
    2 P(eta_1 > ||delta|| / 2) with (eta_1 / lambda + 1) / 2 ~ Beta((d+1)/2, (d+1)/2); the top
    class keeps pa minus the mass outside the intersection, 1/2 at this radius. Tight in every
    direction.
    """

    name = "uniform_ball"
    title = "uniform (ℓ2 ball)"
    iid = False
    direct_norms = ("l2",)

    def rms_at_unit_scale(self) -> float:
        return 1 / math.sqrt(self.dimension + 2)

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        import torch

        draws, d = self.draws(shape), self.dimension
        direction = torch.randn((draws, d), device=device, dtype=dtype, generator=generator)
        radius = torch.rand((draws, 1), device=device, dtype=dtype, generator=generator) ** (1 / d)
        return (self.scale * radius * direction / direction.norm(dim=1, keepdim=True)).reshape(shape)

    def direct_radius(self, pa, norm):
        from scipy.special import betaincinv

        half = (self.dimension + 1) / 2
        return self.scale * (2 - 4 * betaincinv(half, half, 0.75 - pa / 2))

    def coordinate_cdf(self, t):
        import numpy as np
        from scipy.special import betainc

        half = (self.dimension + 1) / 2
        return betainc(half, half, np.clip((np.asarray(t, dtype=float) / self.scale + 1) / 2, 0.0, 1.0))

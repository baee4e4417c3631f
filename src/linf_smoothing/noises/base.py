"""What every smoothing noise is: ``Noise``, its norms and the conversions between them.

A noise is a distribution of eta in R^d with a scale lambda. Its level is sigma, the root mean
square per coordinate, sigma^2 = E||eta||_2^2 / d (rs4a's convention, Yang et al. 2020), so that
two noises at one sigma carry the same energy; ``Noise.scale`` turns sigma into lambda.

Certificates are top-1 (Cohen et al. 2019's form): if the smoothed classifier's top class has
probability at least pa_lower > 1/2, its prediction holds on the ball of radius
``radius(pa_lower, norm)``. A noise certifies some norms directly (``direct_norms``); any other
norm gets the best of their conversions by the norm inequalities ||v||_q <= ||v||_p for q >= p
and ||v||_p <= d^(1/p - 1/q) ||v||_q: an l_p radius R certifies the l_q radius R for q < p and
R / d^(1/p - 1/q) for q > p (the l_q ball of that radius lies inside the l_p ball of radius R).

numpy, scipy and torch are imported where they are used, so that the registry, the names and
the argument checks cost nothing at import (the workflow plans runs with them).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import ClassVar

NORMS = ("l1", "l2", "linf")
PARAMETER_PREFIX = "noise_"  # a parameter p is the setting noise_p
_ORDER = {"l1": 1.0, "l2": 2.0, "linf": math.inf}


def is_number(value) -> bool:
    """A real number that is not a bool (numpy's scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_sigma(sigma: float) -> None:
    if not (is_number(sigma) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma = {sigma!r}: the noise level must be a finite number above 0")


def check_dimension(dimension: int) -> None:
    if not (isinstance(dimension, numbers.Integral) and not isinstance(dimension, bool) and dimension >= 1):
        raise ValueError(f"dimension = {dimension!r}: the input dimension d must be an integer of at least 1")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def convert_radius(radius, from_norm: str, to_norm: str, dimension: int):
    """The ``to_norm`` radius that an ``from_norm`` radius certifies in dimension d (see the
    module docstring): the same radius towards a smaller norm order, else radius / d^(1/p - 1/q)."""
    p, q = _ORDER[from_norm], _ORDER[to_norm]
    if q <= p:
        return radius
    exponent = 1 / p - 1 / q
    # sqrt is correctly rounded, so the l2 -> l-inf conversion gives the bits it always gave.
    return radius / (math.sqrt(dimension) if exponent == 0.5 else dimension ** exponent)


@dataclass(frozen=True)
class Noise:
    """A smoothing noise at level ``sigma`` (root mean square per coordinate) in dimension
    ``dimension`` (d); a subclass adds its own parameters as fields, its ``name`` (the
    configuration's ``noise:``) and its ``direct_norms``, and implements the methods that raise
    NotImplementedError here."""

    sigma: float
    dimension: int

    name: ClassVar[str]
    title: ClassVar[str]  # its name in tables and figures ("uniform (cube)")
    direct_norms: ClassVar[tuple[str, ...]]
    # the certificate variants (linf_smoothing.certificates) of this noise: the top-1 form for every
    # noise; a top-2 form only where it is proven for the noise
    variants: ClassVar[tuple[str, ...]] = ("cohen",)
    iid: ClassVar[bool]  # independent coordinates (where Kumar et al.'s bound, ``limits``, applies)

    @classmethod
    def parameter_keys(cls) -> list[str]:
        """The keys of the noise's own parameters in a configuration, the settings and a
        certification's description: ``noise_`` and the field's name."""
        return [PARAMETER_PREFIX + f.name for f in fields(cls) if f.name not in ("sigma", "dimension")]

    def __post_init__(self):
        check_sigma(self.sigma)
        check_dimension(self.dimension)
        self.check_parameters()

    def check_parameters(self) -> None:
        """Raise ValueError, in one line naming the valid range, for a parameter outside it."""

    @property
    def parameters(self) -> dict:
        """The noise's own parameters (its fields beyond sigma and d)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("sigma", "dimension")}

    def rms_at_unit_scale(self) -> float:
        """sqrt(E||eta||_2^2 / d) at lambda = 1."""
        raise NotImplementedError

    @property
    def scale(self) -> float:
        """lambda, the scale at which the noise has level sigma."""
        return self.sigma / self.rms_at_unit_scale()

    def draws(self, shape) -> int:
        """The number of independent draws in a tensor of ``shape``: its trailing dimensions
        whose product is d form one draw."""
        shape = tuple(int(s) for s in shape)
        for start in range(len(shape) + 1):
            if math.prod(shape[start:]) == self.dimension:
                return math.prod(shape[:start])
        raise ValueError(f"a noise tensor of shape {shape} has no trailing dimensions of d = {self.dimension} "
                         "elements: give the shape of whole inputs (e.g. (B, C, H, W) with C*H*W = d)")

    def sample(self, shape, *, generator=None, device=None, dtype=None):
        """A tensor of ``shape`` holding independent draws of eta (see ``draws``), drawn on
        ``device`` in ``dtype`` (torch's default if None) from ``generator`` (a torch.Generator
        on that device; torch's default generator if None)."""
        raise NotImplementedError

    def sample_(self, out, generator=None):
        """Fill ``out`` with independent draws of eta (as ``sample`` of its shape, device and
        dtype) and return it."""
        return out.copy_(self.sample(out.shape, generator=generator, device=out.device, dtype=out.dtype))

    def direct_radius(self, pa, norm: str):
        """The radius in ``norm`` (one of ``direct_norms``) certified by pa in (1/2, 1), a float64 array."""
        raise NotImplementedError

    def radius(self, pa_lower, norm: str):
        """The top-1 certified radius in ``norm`` (float64, the shape of ``pa_lower``): the best
        conversion to ``norm`` of the noise's direct radii at the lower bound pa_lower in [0, 1]
        of the top class's probability; 0 where pa_lower <= 1/2 (where a top-1 certificate
        abstains) or is NaN; the limit of the formulas at pa_lower = 1 (inf for a noise of
        unbounded support)."""
        check_norm(norm)
        return self.radii(pa_lower)[norm]

    def radii(self, pa_lower) -> dict:
        """``radius`` in every norm of NORMS, each direct radius computed once."""
        import numpy as np

        pa = np.asarray(pa_lower, dtype=np.float64)
        if np.any((pa < 0) | (pa > 1)):
            raise ValueError("pa_lower holds a value outside [0, 1]: it bounds a probability")
        certified = pa > 0.5
        inside = np.where(certified, pa, 0.75)  # any value in (1/2, 1): the formulas stay finite where masked
        with np.errstate(divide="ignore"):  # log(0) at pa_lower = 1: the infinite radius it is
            direct = {norm: np.asarray(self.direct_radius(inside, norm), dtype=np.float64)
                      for norm in self.direct_norms}
        best = {}
        for norm in NORMS:
            converted = [convert_radius(radius, source, norm, self.dimension) for source, radius in direct.items()]
            best[norm] = np.where(certified, converted[0] if len(converted) == 1 else np.maximum.reduce(converted),
                                  0.0)
        return best

    def ceiling(self, n: int, alpha: float, norm: str) -> float:
        """The largest ``norm`` radius any classifier can be certified at with n estimation
        samples at failure probability alpha: all n votes for one class, whose one-sided
        Clopper-Pearson lower bound is alpha^(1/n)."""
        if not (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1):
            raise ValueError(f"n = {n!r}: give an integer of at least 1")
        if not (is_number(alpha) and 0 < alpha < 1):
            raise ValueError(f"alpha = {alpha!r}: the failure probability must lie strictly between 0 and 1")
        return float(self.radius(alpha ** (1.0 / n), norm))

    def coordinate_cdf(self, t):
        """P(eta_1 <= t), the distribution function of one coordinate of eta (arrays elementwise)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What a certification's description records of its noise to recompute every radius
        (with its sigma and d): its name and its parameters under ``parameter_keys``."""
        return {"noise": self.name, **{PARAMETER_PREFIX + k: v for k, v in self.parameters.items()}}

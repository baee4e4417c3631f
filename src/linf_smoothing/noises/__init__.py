"""Smoothing noises: the one place where a noise lives (its scale lambda(sigma), its exact
sampler, its certified radius in every norm), asked by training, certification, PREDICT and
the analysis. ``base`` says what a noise is; ``iid`` holds the noises with independent
coordinates, ``shaped`` those whose density is a function of one norm; ``limits`` the bounds
no certificate can pass. docs/noises.md lists each noise with its sources.

``NOISES`` maps the configuration's ``noise:`` to its class; ``make_noise`` builds one,
``noise_from_description`` the one a certification's description names. A new noise is a
subclass of ``base.Noise`` in one of those modules, an entry of ``NOISES``, and its tests in
tests/test_noises.py (docs/noises.md, "Extending").
"""
from __future__ import annotations

from dataclasses import fields
from typing import Mapping

from linf_smoothing.noises.base import (
    NORMS,
    PARAMETER_PREFIX,
    Noise,
    check_norm,
    check_sigma,
    convert_radius,
    is_number,
)
from linf_smoothing.noises.iid import Gaussian, GeneralizedGaussian, Laplace, Uniform
from linf_smoothing.noises.limits import iid_radius_bound
from linf_smoothing.noises.shaped import ExpInf, UniformBall

__all__ = ["NORMS", "NOISES", "Noise", "Gaussian", "Laplace", "Uniform", "GeneralizedGaussian", "ExpInf",
           "UniformBall", "check_norm", "check_sigma", "convert_radius", "iid_radius_bound", "is_number",
           "make_noise", "noise_from_description"]

NOISES: dict[str, type[Noise]] = {cls.name: cls for cls in (Gaussian, Laplace, Uniform, ExpInf, GeneralizedGaussian,
                                                            UniformBall)}


def _parameter_names(cls: type[Noise]) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in ("sigma", "dimension")]


def make_noise(name: str, sigma: float, dimension: int, **parameters) -> Noise:
    """The noise ``name`` (a key of ``NOISES``) at level sigma in dimension d with its own
    ``parameters``. Raises ValueError, in one line naming the valid choices or range, for an
    unknown name, an unknown or missing parameter, or a value outside its range."""
    if name not in NOISES:
        raise ValueError(f"unknown noise {name!r}; choose one of {', '.join(NOISES)}")
    cls = NOISES[name]
    expected = _parameter_names(cls)
    unknown = sorted(set(parameters) - set(expected))
    missing = [p for p in expected if p not in parameters]
    if unknown or missing:
        takes = f"takes the parameter(s) {', '.join(expected)}" if expected else "takes no parameter"
        wrong = f"unknown parameter(s) {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise ValueError(f"noise {name!r} {takes}: {wrong}")
    return cls(sigma, dimension, **parameters)


def noise_from_description(description: Mapping, sigma: float, dimension: int) -> Noise:
    """The noise a certification's description records (``Noise.describe``), at level sigma in
    dimension d; a description without a ``noise`` key (every file written before noises had
    names) is Gaussian."""
    name = description.get("noise", "gaussian")
    if name not in NOISES:
        raise ValueError(f"the description names the unknown noise {name!r}; known: {', '.join(NOISES)}")
    return make_noise(name, sigma, dimension, **{p: description[PARAMETER_PREFIX + p]
                                                  for p in _parameter_names(NOISES[name])
                                                  if PARAMETER_PREFIX + p in description})

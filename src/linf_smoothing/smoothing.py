"""Randomized smoothing: the smoothed classifier g(x) = argmax_c P(f(x + eta) = c) of a base
classifier f under a smoothing noise eta (``linf_smoothing.noises``; N(0, sigma^2 I) in the paper),
with Monte Carlo certificates and predictions (Cohen et al. 2019; Blum et al. 2020).

``Smooth`` samples f; ``certificates`` turns the vote counts into certificates. What each
certificate variant guarantees (``cohen`` and ``sound_top2`` hold with probability at least
1 - alpha over the sampling; ``blum``, the original's, does not in general) is stated in
``linf_smoothing.certificates``. ``Smooth.predict`` returns g(x) or abstains, and returns a
class other than g(x) with probability at most alpha.

Under the Gaussian an l2 certificate R gives the l-inf certificate R / sqrt(d), d = C*H*W,
because the l-inf ball of radius r sits inside the l2 ball of radius r * sqrt(d); every noise
gives its radius in each norm (``Noise.radius``).

The base classifier is any ``nn.Module`` mapping (B, C, H, W) in [0, 1] to logits; sampling
draws noise on the model's device into one reused buffer and counts votes there, with one
transfer to the host per call.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np
import torch

from linf_smoothing.certificates import (
    ABSTAIN,
    VARIANTS,
    Certificate,
    certify_counts,
    check_alpha,
    check_sigma,
    check_variant,
)
from linf_smoothing.noises import Noise, make_noise
from linf_smoothing.prediction import predict_from_counts

__all__ = ["ABSTAIN", "VARIANTS", "Certificate", "Counts", "Smooth", "certify", "predict", "sample_counts"]


@dataclass(frozen=True)
class Counts:
    """Votes of the base classifier per class: ``selection`` (n0 samples) and independent
    ``estimation`` (n samples)."""

    selection: np.ndarray
    estimation: np.ndarray


def _at_least(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} = {value!r}: give an integer of at least {minimum}")


def check_sampling(alpha: float, **samples: int) -> None:
    """Refuse a failure probability outside (0, 1) or a sample count below 1 (by name)."""
    for name, value in samples.items():
        _at_least(name, value, 1)
    check_alpha(alpha)


def _options_by_keyword(cohen_call: str = ""):
    """Refuse a call that passes the decorated function's keyword-only options by position with
    a TypeError naming what goes where, not Python's count of positional arguments: Cohen et
    al.'s ``Smooth.certify(x, n0, n, alpha, batch_size)`` and ``predict(x, n, alpha,
    batch_size)`` pass the batch size where this project's functions take their options. With
    ``cohen_call`` (where such a call's batch size goes here), a batch_size keyword too."""

    def decorate(function):
        parameters = inspect.signature(function).parameters.values()
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        options = ", ".join(f"{p.name}=" for p in parameters if p.kind is p.KEYWORD_ONLY)
        shown = [name for name in positional if name != "self"]
        name = function.__qualname__

        @functools.wraps(function)
        def checked(*args, **kwargs):
            if len(args) > len(positional) or (cohen_call and "batch_size" in kwargs):
                raise TypeError(f"{name}() takes {', '.join(shown)} by position and {options} by keyword"
                                + (f"; {cohen_call}" if cohen_call else ""))
            return function(*args, **kwargs)

        return checked

    return decorate


class Smooth:
    """The smoothed classifier of ``model`` (``num_classes`` outputs) under the noise ``noise``
    (a name of ``noises.NOISES``, with its ``noise_parameters``) at level ``sigma``, sampled
    ``batch_size`` noisy copies per forward pass (under bf16 autocast on CUDA if
    ``mixed_precision``: the base classifier then is the bf16 network)."""

    def __init__(self, model: torch.nn.Module, num_classes: int, sigma: float, batch_size: int,
                 mixed_precision: bool = False, noise: str = "gaussian", noise_parameters: dict | None = None):
        _at_least("num_classes", num_classes, 2)
        _at_least("batch_size", batch_size, 1)
        check_sigma(sigma)
        self.model, self.num_classes, self.sigma = model, num_classes, sigma
        self.batch_size, self.mixed_precision = batch_size, mixed_precision
        self.noise_name, self.noise_parameters = noise, dict(noise_parameters or {})
        self.noise_for_dimension(1)  # refuses an unknown noise or parameter now, not at the first image

    def noise_for_dimension(self, dimension: int) -> Noise:
        return make_noise(self.noise_name, self.sigma, dimension, **self.noise_parameters)

    def votes(self, x: torch.Tensor, num: int, *, generator: torch.Generator | None = None) -> np.ndarray:
        """Votes of the base classifier on ``num`` noisy copies of one image ``x`` (C, H, W) on
        the model's device; int64 counts per class. The noise is drawn and added in x's dtype."""
        _at_least("the number of samples", num, 1)
        device = x.device
        noise = self.noise_for_dimension(x.numel())
        counts = torch.zeros(self.num_classes, dtype=torch.int64, device=device)
        batch = x.unsqueeze(0).expand(min(self.batch_size, num), *x.shape)
        noisy = torch.empty(batch.shape, device=device, dtype=x.dtype)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                                  enabled=self.mixed_precision and device.type == "cuda")
        with torch.inference_mode(), autocast:
            remaining = num
            while remaining > 0:
                this = min(self.batch_size, remaining)
                noisy = noisy[:this]
                noise.sample_(noisy, generator)
                noisy.add_(batch[:this])
                counts += torch.bincount(self.model(noisy).argmax(dim=1), minlength=self.num_classes)
                remaining -= this
        return counts.cpu().numpy()

    def sample(self, x: torch.Tensor, n0: int, n: int, *, generator: torch.Generator | None = None) -> Counts:
        """The selection votes (n0), then the estimation votes (n), from one generator."""
        return Counts(self.votes(x, n0, generator=generator), self.votes(x, n, generator=generator))

    @_options_by_keyword("Cohen et al.'s smooth.certify(x, n0, n, alpha, batch_size) passes the batch size "
                         "fifth: here it is given once, to Smooth(model, num_classes, sigma, batch_size)")
    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, *, variant: str = "blum",
                generator: torch.Generator | None = None) -> Certificate:
        """CERTIFY one image with certificate ``variant`` (``certificates`` states its guarantee).
        Unlike Cohen et al.'s ``certify``, which returns (class, l2 radius), it returns the whole
        ``Certificate``: ``predict``, ``radius_l2``, ``radius_linf``, the bounds and the counts."""
        noise = self.noise_for_dimension(x.numel())
        check_variant(variant, noise)
        check_sampling(alpha, n0=n0, n=n)
        counts = self.sample(x, n0, n, generator=generator)
        return certify_counts(counts.selection, counts.estimation, self.sigma, alpha, variant, x.numel(), noise)

    @_options_by_keyword("Cohen et al.'s smooth.predict(x, n, alpha, batch_size) passes the batch size "
                         "fourth: here it is given once, to Smooth(model, num_classes, sigma, batch_size)")
    def predict(self, x: torch.Tensor, n: int, alpha: float, *, generator: torch.Generator | None = None) -> int:
        """Cohen et al.'s PREDICT: the top class if a two-sided binomial test of its vote against
        the runner-up's rejects equality at level alpha, else ABSTAIN."""
        check_sampling(alpha, n=n)
        return int(predict_from_counts(self.votes(x, n, generator=generator), alpha)[0])


def sample_counts(model: torch.nn.Module, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                  num_classes: int, *, generator: torch.Generator | None = None,
                  mixed_precision: bool = False) -> np.ndarray:
    """``Smooth(...).votes(x, num, generator=generator)``."""
    return Smooth(model, num_classes, sigma, batch_size, mixed_precision).votes(x, num, generator=generator)


@_options_by_keyword()
def certify(model: torch.nn.Module, x: torch.Tensor, sigma: float, n0: int, n: int, alpha: float,
            batch_size: int, num_classes: int, *, variant: str = "blum",
            generator: torch.Generator | None = None, mixed_precision: bool = False) -> Certificate:
    """``Smooth(...).certify(...)``: CERTIFY one image ``x`` (C, H, W)."""
    return Smooth(model, num_classes, sigma, batch_size, mixed_precision).certify(
        x, n0, n, alpha, variant=variant, generator=generator)


@_options_by_keyword()
def predict(model: torch.nn.Module, x: torch.Tensor, sigma: float, n: int, alpha: float, batch_size: int,
            num_classes: int, *, generator: torch.Generator | None = None) -> int:
    """``Smooth(...).predict(...)``: Cohen et al.'s abstaining PREDICT."""
    return Smooth(model, num_classes, sigma, batch_size).predict(x, n, alpha, generator=generator)

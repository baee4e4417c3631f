"""Randomized smoothing: the smoothed classifier g(x) = argmax_c P(f(x + eta) = c),
eta ~ N(0, sigma^2 I), with Monte Carlo certificates (Cohen et al. 2019; Blum et al. 2020).

Guarantees, each holding with probability at least 1 - alpha over the sampling noise:

- ``certify(..., variant="blum")`` (the paper's): top-2 classes cA, cB from n0 samples;
  one-sided Clopper-Pearson bounds pA_lower of nA/n and pB_upper of nB/n from n fresh
  samples; abstain if pA_lower < pB_upper, else g(x + delta) = cA for every
  ||delta||_2 < R = sigma/2 * (inv_Phi(pA_lower) - inv_Phi(pB_upper)). As in the original,
  each bound is taken at level alpha.
- ``certify(..., variant="cohen")``: top-1 class cA from n0 samples; abstain if
  pA_lower < 1/2, else R = sigma * inv_Phi(pA_lower).
- ``predict``: returns g(x), or abstains, and is wrong with probability at most alpha.

An l2 certificate R gives the l-inf certificate R / sqrt(d), d = C*H*W, because the l-inf
ball of radius r sits inside the l2 ball of radius r * sqrt(d).

The base classifier is any ``nn.Module`` mapping (B, C, H, W) in [0, 1] to logits; sampling
draws noise on the model's device into one reused buffer and counts votes there, with one
transfer to the host per call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import binomtest

from linf_smoothing.bounds import blum_radius, clopper_pearson, cohen_radius, linf_radius

ABSTAIN = -1
VARIANTS = ("blum", "cohen")


@dataclass(frozen=True)
class Certificate:
    predict: int          # cA, or ABSTAIN
    radius_l2: float      # 0.0 on abstention
    radius_linf: float    # radius_l2 / sqrt(d)
    pa_lower: float
    pb_upper: float       # nan for Cohen's variant
    count_a: int
    count_b: int          # -1 for Cohen's variant


def sample_counts(model: torch.nn.Module, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                  num_classes: int, generator: torch.Generator | None = None,
                  mixed_precision: bool = False) -> np.ndarray:
    """Votes of the base classifier on ``num`` noisy copies x + eta, eta ~ N(0, sigma^2 I).

    ``x`` is one image (C, H, W) on the model's device; returns int64 counts per class.
    The noise is always drawn and added in float32; ``mixed_precision`` runs the model under
    bf16 autocast on CUDA (the base classifier then is the bf16 network).
    """
    device = x.device
    counts = torch.zeros(num_classes, dtype=torch.int64, device=device)
    batch = x.unsqueeze(0).expand(min(batch_size, num), *x.shape)
    noise = torch.empty(batch.shape, device=device, dtype=x.dtype)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed_precision and device.type == "cuda")
    with torch.inference_mode(), autocast:
        remaining = num
        while remaining > 0:
            this = min(batch_size, remaining)
            noise = noise[:this]
            noise.normal_(0.0, sigma, generator=generator)
            noise.add_(batch[:this])
            predictions = model(noise).argmax(dim=1)
            counts += torch.bincount(predictions, minlength=num_classes)
            remaining -= this
    return counts.cpu().numpy()


def certify(model: torch.nn.Module, x: torch.Tensor, sigma: float, n0: int, n: int, alpha: float,
            batch_size: int, num_classes: int, variant: str = "blum",
            generator: torch.Generator | None = None, mixed_precision: bool = False) -> Certificate:
    """CERTIFY one image ``x`` (C, H, W); see the module docstring for the guarantee."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown certification variant {variant!r}; choose one of {VARIANTS}")
    selection = sample_counts(model, x, sigma, n0, batch_size, num_classes, generator, mixed_precision)
    estimation = sample_counts(model, x, sigma, n, batch_size, num_classes, generator, mixed_precision)
    dimension = x.numel()
    # Stable sort: ties go to the lower class index, so runs are repeatable.
    order = np.argsort(-selection, kind="stable")
    c_a = int(order[0])
    pa_lower = clopper_pearson(int(estimation[c_a]), n, alpha)[0]
    if variant == "cohen":
        if pa_lower < 0.5:
            return Certificate(ABSTAIN, 0.0, 0.0, pa_lower, math.nan, int(estimation[c_a]), -1)
        radius = cohen_radius(sigma, pa_lower)
        return Certificate(c_a, radius, linf_radius(radius, dimension), pa_lower, math.nan,
                           int(estimation[c_a]), -1)
    c_b = int(order[1])
    pb_upper = clopper_pearson(int(estimation[c_b]), n, alpha)[1]
    counts = (int(estimation[c_a]), int(estimation[c_b]))
    if pa_lower < pb_upper:
        return Certificate(ABSTAIN, 0.0, 0.0, pa_lower, pb_upper, *counts)
    radius = blum_radius(sigma, pa_lower, pb_upper)
    return Certificate(c_a, radius, linf_radius(radius, dimension), pa_lower, pb_upper, *counts)


def predict(model: torch.nn.Module, x: torch.Tensor, sigma: float, n: int, alpha: float, batch_size: int,
            num_classes: int, generator: torch.Generator | None = None) -> int:
    """Cohen et al.'s PREDICT: the top class if a two-sided binomial test of its vote against
    the runner-up's rejects equality at level alpha, else ABSTAIN."""
    counts = sample_counts(model, x, sigma, n, batch_size, num_classes, generator)
    order = np.argsort(-counts, kind="stable")
    n_a, n_b = int(counts[order[0]]), int(counts[order[1]])
    if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
        return ABSTAIN
    return int(order[0])

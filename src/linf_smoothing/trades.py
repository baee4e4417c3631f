"""TRADES with Gaussian noise (Blum et al. 2020, after Zhang et al. 2019).

For a batch (x in [0, 1]^d, labels y) and one noise draw eta ~ N(0, sigma^2 I):

    loss = CE(f(x + eta), y) + beta * (1/B) * sum_i KL( p(x_i + eta_i) || p(x_adv_i + eta_i) )

where p = softmax of f and x_adv approximately maximizes the KL term over the l2 ball of
radius epsilon around x (and inside [0, 1]). The *same* eta is used in the inner
maximization and in both outer terms, and x + eta is not clamped. The inner maximization
runs with the model in eval mode (BatchNorm running statistics neither used from the batch
nor updated); the outer loss runs in train mode. The natural side is not detached. As in the
original, the outer loss updates BatchNorm's running statistics three times per batch:
natural, adversarial, natural (the natural logits are computed once; a gradient-free pass
repeats the last update).

With beta = 0 the loss is exactly the noisy cross-entropy of Gaussian augmentation
(Cohen et al. 2019) and no attack is run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from linf_smoothing.noises import Gaussian


def _kl_sum(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """sum over the batch of KL(softmax(logits_p) || softmax(logits_q))."""
    return F.kl_div(F.log_softmax(logits_q, dim=1), F.log_softmax(logits_p, dim=1),
                    reduction="sum", log_target=True)


def _per_sample_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def attack_start(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The attack's initial perturbation, 0.001 * N(0, I) (the attack's, whatever the smoothing noise)."""
    return 0.001 * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)


def l2_adversary(model: nn.Module, x: torch.Tensor, eta: torch.Tensor, epsilon: float, steps: int,
                 generator: torch.Generator | None = None, start: torch.Tensor | None = None) -> torch.Tensor:
    """The inner maximization: x_adv in [0, 1] with ||x_adv - x||_2 <= epsilon per sample.

    delta starts at ``start``, by default a fresh 0.001 * N(0, I) draw; each of ``steps`` steps
    moves it by 2*epsilon/steps along
    the per-sample-normalized gradient of sum KL(p(x + eta) || p(x + delta + eta)) (a random
    unit direction where that gradient is exactly 0), then clamps x + delta to [0, 1] and
    projects delta onto the l2 ball. Runs in eval mode and restores the model's mode afterwards.

    Where the gradient is exactly 0, TRADES (Zhang et al.'s trades.py) and the original replace
    it by an *unnormalized* N(0, I) draw, so their step there is 2*epsilon/steps * ||z||, about
    2*epsilon/steps * sqrt(d): beyond epsilon once sqrt(d) > steps/2 (always in the paper), so
    the clamp and the projection leave delta near the ball's surface in a random direction. Here
    the draw is normalized like any gradient, so the step keeps its length. A deliberate
    difference, which never arose in the demo's training (docs/differences.md).
    """
    was_training = model.training
    model.eval()
    step_size = 2.0 * epsilon / steps
    delta = attack_start(x, generator) if start is None else start
    with torch.no_grad():
        natural_logits = model(x + eta)
    for _ in range(steps):
        delta.requires_grad_(True)
        kl = _kl_sum(natural_logits, model(x + delta + eta))
        (grad,) = torch.autograd.grad(kl, delta)
        with torch.no_grad():
            norms = _per_sample_norm(grad)
            zero = norms.view(-1) == 0
            if zero.any():  # a flat KL gives no direction: a random unit one (TRADES: unnormalized)
                grad[zero] = torch.randn(grad[zero].shape, device=x.device, dtype=x.dtype, generator=generator)
                norms = _per_sample_norm(grad)
            delta = delta + step_size * grad / norms
            delta = (x + delta).clamp_(0.0, 1.0) - x
            delta = delta.renorm(p=2, dim=0, maxnorm=epsilon)
    model.train(was_training)
    return (x + delta.detach()).clamp_(0.0, 1.0)


def trades_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float, epsilon: float,
                beta: float, steps: int, generator: torch.Generator | None = None,
                eta: torch.Tensor | None = None, start: torch.Tensor | None = None,
                attack_model: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """TRADES + Gaussian noise loss of one batch; returns (loss, logits on x + eta).

    ``eta`` (one N(0, sigma^2 I) draw for the batch) and the attack's ``start`` are drawn
    here, in that order, unless given (training gives the draw of its smoothing noise, which
    need not be Gaussian; ``sigma`` serves only this default). ``attack_model`` (default
    ``model``) runs the inner maximization: the same network without a wrapper that expects
    every forward to be followed by a backward through the weights (DistributedDataParallel).
    The model is left in train mode.
    """
    if eta is None:
        eta = Gaussian(sigma, x[0].numel()).sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if beta == 0:
        model.train()
        logits = model(x + eta)
        return F.cross_entropy(logits, y), logits
    x_adv = l2_adversary(model if attack_model is None else attack_model, x, eta, epsilon, steps, generator, start)
    model.train()
    logits = model(x + eta)
    robust = _kl_sum(logits, model(x_adv + eta)) / x.shape[0]
    with torch.no_grad():
        # The original evaluates the natural batch once more inside its KL term, so BatchNorm's
        # running statistics take the natural, the adversarial, then the natural batch again.
        # That third pass's outputs equal ``logits`` (train mode normalizes by the batch's own
        # statistics), so it runs here without gradient, for its statistics alone.
        model(x + eta)
    return F.cross_entropy(logits, y) + beta * robust, logits

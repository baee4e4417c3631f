"""Training methods: how one batch of noisy training images becomes a loss.

A method draws, for the whole (global) batch, whatever randomness of its own it needs beyond
the noise eta (``draw``), so that data-parallel processes draw exactly what one process
would; then computes the loss on this process's rows (``loss``). ``METHODS`` maps the
configuration's ``method:`` to its implementation; a new method is a class here (its science
in a module of its own, as ``trades``, ``smoothadv``, ``consistency`` and ``macer``), its name
and keys in the schema, and its settings in ``TrainSettings`` (see docs/development.md, "Extending").
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from linf_smoothing.consistency import consistency_loss
from linf_smoothing.macer import macer_loss
from linf_smoothing.settings import TrainSettings
from linf_smoothing.smoothadv import smoothadv_loss, warmed_up_epsilon
from linf_smoothing.trades import attack_start, trades_loss


class TrainingMethod(Protocol):
    def draw(self, x: torch.Tensor, settings: TrainSettings, generator: torch.Generator | None) -> torch.Tensor | None:
        """The method's own random draw for the global batch ``x`` (rows sliced later), or None."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eta: torch.Tensor, drawn: torch.Tensor | None,
             settings: TrainSettings, generator: torch.Generator | None, attack_model: nn.Module,
             epoch: int = 0) -> torch.Tensor:
        """The batch's mean loss on x + eta; ``attack_model`` is ``model`` without a data-parallel wrapper;
        ``epoch`` (0-based) serves schedules such as SmoothAdv's warm-up."""


class TradesNoise:
    """TRADES + noise (Blum et al. 2020, with Gaussian noise), ``trades.trades_loss``: draws the attack's start."""

    def draw(self, x, settings, generator):
        return attack_start(x, generator) if settings.beta > 0 else None

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        loss, _ = trades_loss(model, x, y, settings.sigma, settings.epsilon, settings.beta, settings.attack_steps,
                              generator, eta=eta, start=drawn, attack_model=attack_model)
        return loss


class GaussianAugmentation:
    """Noise augmentation (Cohen et al. 2019 with Gaussian noise; Yang et al. 2020 with any):
    cross-entropy on x + eta."""

    def draw(self, x, settings, generator):
        return None

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        model.train()
        return F.cross_entropy(model(x + eta), y)


class NoiseCopies:
    """Base of the methods that see every image in m = ``settings.noise_copies`` noisy copies.

    The loop's eta is the first copy; ``draw`` draws the other m - 1, (B, m - 1, ...), of the
    experiment's noise (``settings.smoothing_noise``) for the global batch from the training generator, so
    data-parallel processes slice the same draw. ``noise`` stacks them into (B, m, ...) for
    this process's rows."""

    def draw(self, x, settings, generator):
        if settings.noise_copies == 1:
            return None
        shape = (x.shape[0], settings.noise_copies - 1, *x.shape[1:])
        return settings.smoothing_noise(x[0].numel()).sample(shape, generator=generator, device=x.device,
                                                             dtype=x.dtype)

    @staticmethod
    def noise(eta, drawn):
        return eta.unsqueeze(1) if drawn is None else torch.cat([eta.unsqueeze(1), drawn], dim=1)


class SmoothAdv(NoiseCopies):
    """SmoothAdv (Salman et al. 2019), ``smoothadv.smoothadv_loss``: PGD or DDN on the soft
    smoothed classifier of the m copies, then cross-entropy on all m noisy copies of the
    adversarial images, with the radius warmed up over ``warmup_epochs``."""

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        epsilon = warmed_up_epsilon(settings.epsilon, epoch, settings.warmup_epochs)
        loss, _ = smoothadv_loss(model, x, y, self.noise(eta, drawn), epsilon, settings.attack_steps,
                                 settings.attack, settings.ddn_gamma, generator, attack_model)
        return loss


class Consistency(NoiseCopies):
    """Consistency regularization (Jeong & Shin 2020), ``consistency.consistency_loss``."""

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        return consistency_loss(model, x, y, self.noise(eta, drawn), settings.consistency_lambda,
                                settings.consistency_eta)


class Macer(NoiseCopies):
    """MACER (Zhai et al. 2020), ``macer.macer_loss``, with Gaussian noise only (its radius term
    is the Gaussian's; ``TrainSettings`` refuses another noise); lambda is 0 in the first
    ``macer_deferred_epochs`` epochs (Jeong & Shin's re-implementation, ``code/train_macer.py``
    lines 104-106 of github.com/jh-jeong/smoothing-consistency a11954a, defers it until the
    first learning-rate step: ``--deferred`` there is ``macer_deferred_epochs`` = lr_step_size + 1
    here, their 0-based epoch <= lr_step_size)."""

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        lbd = 0.0 if epoch < settings.macer_deferred_epochs else settings.macer_lambda
        return macer_loss(model, x, y, self.noise(eta, drawn), settings.sigma, lbd, settings.macer_gamma,
                          settings.macer_beta)


METHODS: dict[str, TrainingMethod] = {"trades": TradesNoise(), "gaussian": GaussianAugmentation(),
                                      "smoothadv": SmoothAdv(), "consistency": Consistency(), "macer": Macer()}

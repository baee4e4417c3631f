"""Training methods: how one batch of noisy training images becomes a loss.

A method draws, for the whole (global) batch, whatever randomness of its own it needs beyond
the noise eta (``draw``), so that data-parallel processes draw exactly what one process
would; then computes the loss on this process's rows (``loss``). ``METHODS`` maps the
configuration's ``method:`` to its implementation; a new method is a class here and its name
in the schema's enum (see the README's "Extending").
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from linf_smoothing.settings import TrainSettings
from linf_smoothing.trades import attack_start, trades_loss


class TrainingMethod(Protocol):
    def draw(self, x: torch.Tensor, settings: TrainSettings, generator: torch.Generator | None) -> torch.Tensor | None:
        """The method's own random draw for the global batch ``x`` (rows sliced later), or None."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eta: torch.Tensor, drawn: torch.Tensor | None,
             settings: TrainSettings, generator: torch.Generator | None, attack_model: nn.Module) -> torch.Tensor:
        """The batch's mean loss on x + eta; ``attack_model`` is ``model`` without a data-parallel wrapper."""


class TradesNoise:
    """TRADES + Gaussian noise (Blum et al. 2020), ``trades.trades_loss``: draws the attack's start."""

    def draw(self, x, settings, generator):
        return attack_start(x, generator) if settings.beta > 0 else None

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model):
        loss, _ = trades_loss(model, x, y, settings.sigma, settings.epsilon, settings.beta, settings.attack_steps,
                              generator, eta=eta, start=drawn, attack_model=attack_model)
        return loss


class GaussianAugmentation:
    """Gaussian data augmentation (Cohen et al. 2019): cross-entropy on x + eta."""

    def draw(self, x, settings, generator):
        return None

    def loss(self, model, x, y, eta, drawn, settings, generator, attack_model):
        model.train()
        return F.cross_entropy(model(x + eta), y)


METHODS: dict[str, TrainingMethod] = {"trades": TradesNoise(), "gaussian": GaussianAugmentation()}

"""MACER: maximizing the certified radius (Zhai et al. 2020).

Faithful to the authors' code, github.com/RuntianZ/macer at commit
1b6837fd51cc814531a5385613c614bad85c7dab, ``macer.py`` lines 29-66 (``macer_train``): for
a batch of B images, each in k noisy copies x_i + eta_ij that go through the network as one
batch (train mode),

    loss = (1/B) [ sum_i -log(pbar_i[y_i] + 1e-10)
                   + lambda sigma/2 sum_{i in S} max(0, gamma - (Phi^-1(q1_i) - Phi^-1(q2_i))) ]

where pbar_i is the mean softmax of the k copies, q1_i >= q2_i the two largest entries of
the mean of softmax(beta * logits) over the copies, and S the images whose q1 is the true
class's. Like the authors, the hinge keeps only the terms with Phi^-1(q1) - Phi^-1(q2) <=
gamma and computes Phi^-1 on those alone (lines 53-60).

Non-finite terms, which the authors drop without a word (line 56): xi = Phi^-1(q1) -
Phi^-1(q2) is >= 0, and it is +inf exactly when q1 rounds to 1 or q2 underflows to 0 (NaN
only comes from a NaN network output, which the cross-entropy then carries into the loss
anyway). For such a term the hinge max(0, gamma - xi) is 0 with gradient 0, so dropping it
is exact, not an approximation, whenever the true xi exceeds gamma. In float32, q1 rounds to
1 only when 1 - q1 < 2^-25, i.e. Phi^-1(q1) > 5.4 and q2 <= 1 - q1, so xi > 10.8; q2
underflows only below about 1e-45, where xi > 12.8 (q1 >= 1/K). So for gamma <= 10.8 (the
authors' 8) keeping only the finite terms gives exactly the hinge; with a larger gamma a
saturated term whose true xi lies between 10.8 and gamma would be dropped although its hinge
is positive (by less than gamma - 10.8). Clamping the probabilities into (0, 1) instead
would make those terms finite but give them a radius and a gradient that the true q's do not
have, so this module keeps the authors' selection and states it here.

Difference from the authors' code: ``Normal(0, 1).icdf`` is used as theirs is; the loss is
returned rather than stepped, and the training loop takes one SGD step per batch, as the
authors do (their CIFAR-10 batch is 64 images in k = 16 copies).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions.normal import Normal

from linf_smoothing.smoothadv import repeat_copies


def macer_terms(logits: torch.Tensor, y: torch.Tensor, sigma: float, lbd: float, gamma: float, beta: float
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, classification sum, robustness sum) for ``logits`` (B, k, K)."""
    batch = len(y)
    normal = Normal(torch.tensor([0.0], device=logits.device), torch.tensor([1.0], device=logits.device))
    average = F.softmax(logits, dim=2).mean(1)
    classification = F.nll_loss(torch.log(average + 1e-10), y, reduction="sum")
    top2_score, top2_idx = torch.topk(F.softmax(logits * beta, dim=2).mean(1), 2)
    correct = top2_idx[:, 0] == y
    q1, q2 = top2_score[correct, 0], top2_score[correct, 1]
    with torch.no_grad():
        xi = normal.icdf(q1) - normal.icdf(q2)
        keep = xi <= gamma  # drops xi = +inf (hinge 0, see the module's docstring) and NaN
    q1, q2 = q1[keep], q2[keep]
    robustness = (normal.icdf(q2) - normal.icdf(q1) + gamma).sum() * sigma / 2
    return (classification + lbd * robustness) / batch, classification, robustness


def macer_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, sigma: float, lbd: float,
               gamma: float, beta: float) -> torch.Tensor:
    """MACER's loss of one batch for ``noise`` (B, k, ...), the model in train mode."""
    k = noise.shape[1]
    model.train()
    logits = model(repeat_copies(x, k) + noise.flatten(0, 1))
    return macer_terms(logits.reshape(len(x), k, -1), y, sigma, lbd, gamma, beta)[0]

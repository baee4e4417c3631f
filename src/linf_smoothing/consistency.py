"""Consistency regularization (Jeong & Shin 2020).

Faithful to the authors' code, github.com/jh-jeong/smoothing-consistency at commit
a11954aa91adb9924eecf49aaca74051e79bbb86 (``--loss default``, without ``--adv-training``):

    loss = (1 / (B m)) sum_{i, j} CE(f(x_i + eta_ij), y_i)
         + (1 / B) sum_i [ lambda (1/m) sum_j KL(pbar_i || p(x_i + eta_ij)) + eta H(pbar_i) ]

where p = softmax of f, pbar_i = (1/m) sum_j p(x_i + eta_ij) (not detached) and H the
entropy with its log clamped at 1e-20: ``code/train_consistency.py`` lines 145-165 (m noise
draws, the copies concatenated into one forward pass, mean cross-entropy over all of them)
and ``code/consistency.py`` lines 34-44 and 56-66 (``consistency_loss``, ``kl_div``,
``entropy``).

Differences from the authors' loop, none of which changes a step's loss or gradient:

- The authors split each loaded batch into m chunks and take one SGD step per chunk
  (``_chunk_minibatch``, lines 115-119 and 140-176), so a step sees batch / m images in m
  copies; here one step sees ``batch_size`` images in m copies (set ``batch_size`` to their
  batch / m to match: 128 for their 256 and m = 2).
- The copies are laid out image-major here (theirs copy-major: ``torch.cat`` of the m noisy
  batches); every term is a sum or mean over the copies, and BatchNorm's batch statistics
  do not depend on the order.
- The authors' optional SmoothAdv attack inside consistency training (``--adv-training``) is
  not offered.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from linf_smoothing.smoothadv import repeat_copies


def consistency_terms(logits: torch.Tensor, lbd: float, eta: float) -> torch.Tensor:
    """lambda * mean_j KL(pbar || p_j) + eta * H(pbar), averaged over the B images;
    ``logits`` is (B, m, K)."""
    softmax = F.softmax(logits, dim=2)
    average = softmax.mean(1)
    kl = F.kl_div(F.log_softmax(logits, dim=2), average.unsqueeze(1).expand_as(logits),
                  reduction="none").sum(2).mean(1)
    entropy = (-average * torch.log(average.clamp(min=1e-20))).sum(1)
    return (lbd * kl + eta * entropy).mean()


def consistency_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, lbd: float,
                     eta: float) -> torch.Tensor:
    """The loss of one batch for ``noise`` (B, m, ...): one forward pass over the B * m copies,
    in train mode."""
    m = noise.shape[1]
    model.train()
    logits = model(repeat_copies(x, m) + noise.flatten(0, 1))
    cross_entropy = F.cross_entropy(logits, repeat_copies(y, m))
    return cross_entropy + consistency_terms(logits.reshape(len(x), m, -1), lbd, eta)

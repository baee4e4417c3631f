"""SmoothAdv: adversarial training of the soft smoothed classifier (Salman et al. 2019).

Faithful to the authors' code, github.com/Hadisalman/smoothing-adversarial at commit
cff781d53ed5fa7df6ba567d3b51df202b6ec14e:

- the attack (``code/attacks.py``) maximizes the cross-entropy of the *soft* smoothed
  classifier, -log of the mean softmax over the m noisy copies x + delta + eta_j that share
  one perturbation delta (``PGD_L2._attack_mutlinoise``, lines 116-180, and
  ``DDN._attack_mutlinoise``, lines 404-506; the log of the mean is clamped at 1e-20 as
  there, line 156 and 456);
- PGD (``pgd_attack``): delta starts at 0 (the ``random_start`` flag is never read), k steps
  of size 2 epsilon / k along the per-image-normalized gradient (a standard normal direction,
  not normalized, where the gradient is 0, lines 166-171), then x + delta clamped to [0, 1]
  and delta projected onto the l2 ball of radius epsilon (lines 175-178);
- DDN (``ddn_attack``, Rony et al. 2019 as the authors adapt it): SGD on delta with learning
  rate 1 under cosine annealing to 0.01 over the k steps (stepped before each step, lines
  434-442), a norm that shrinks by (1 - gamma) while the smoothed prediction (the mode of
  the m copies' predictions, line 450) is already wrong and grows by (1 + gamma) otherwise,
  capped by the largest distance inside [0, 1] (lines 492-495), quantization to 256 levels
  (lines 497-500); it returns the smallest perturbation that fooled the smoothed prediction
  (0 if none did), projected onto the l2 ball of radius epsilon and quantized (lines
  502-506). ``train_pgd.py`` overwrites DDN's initial norm with the current radius every
  epoch (lines 177-178), so ``--init-norm-DDN`` has no effect there and none here;
- training (``code/train_pgd.py``, lines 228-267, with ``--train-multi-noise``): the model
  in eval mode for the attack (BatchNorm's running statistics, lines 240-241), then in train
  mode the mean cross-entropy over all m noisy copies x_adv + eta_j of every image, with the
  *same* noise eta_j that the attack used (one draw, line 237);
- the radius warms up linearly over the first epochs: min(epsilon, (epoch + 1) epsilon /
  warmup) for the 0-based epoch (lines 177-178).

Differences from the authors' loop, none of which changes a step's loss or gradient:

- The authors split every loaded batch of ``--batch`` images into m chunks and take one SGD
  step per chunk (``get_minibatches``, lines 202-208 and 228-267): each step sees
  ``batch / m`` images in m copies. Here one step sees ``batch_size`` images in m copies, so
  a configuration reproduces theirs with ``batch_size`` = their batch / m (64 for their 256
  and m = 4); the only remaining difference is which images share a step.
- The attack takes gradients with ``torch.autograd.grad`` with respect to delta alone, so it
  never computes weight gradients (the authors switch them off with ``requires_grad_``).
- The m copies are stored image-major (image 0's m copies, then image 1's, ...), as the
  authors' ``repeat`` and ``view`` lay them out (line 234), and go through the network as one
  batch of B * m.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def repeat_copies(t: torch.Tensor, m: int) -> torch.Tensor:
    """(B, ...) -> (B * m, ...), each row repeated m times in a row (image-major)."""
    return t.repeat_interleave(m, dim=0)


def soft_smoothed_nll(logits: torch.Tensor, y: torch.Tensor, m: int) -> torch.Tensor:
    """Mean over the B images of -log(mean softmax of their m copies)[y], the log clamped at
    1e-20 (``attacks.py`` lines 155-159); ``logits`` is (B * m, K), image-major."""
    average = F.softmax(logits, dim=1).reshape(-1, m, logits.shape[-1]).mean(1, keepdim=True).squeeze(1)
    return F.nll_loss(torch.log(average.clamp(min=1e-20)), y)


def warmed_up_epsilon(epsilon: float, epoch: int, warmup_epochs: int) -> float:
    """The attack's radius in 0-based ``epoch``: min(epsilon, (epoch + 1) epsilon / warmup)."""
    return min(epsilon, (epoch + 1) * epsilon / warmup_epochs)


def _normalized(grad: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """grad / its per-image l2 norm; a standard normal draw (not normalized, as the authors')
    for an image whose gradient is 0."""
    norms = grad.flatten(1).norm(p=2, dim=1)
    grad = grad / norms.view(-1, *([1] * (grad.dim() - 1)))
    zero = norms == 0
    if zero.any():
        grad[zero] = torch.randn(grad[zero].shape, device=grad.device, dtype=grad.dtype, generator=generator)
    return grad


def _smoothed_logits(model: nn.Module, x_rep: torch.Tensor, delta: torch.Tensor, noise: torch.Tensor, m: int):
    return model(x_rep + repeat_copies(delta, m) + noise)


def pgd_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, epsilon: float,
               steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """SmoothAdv's l2 PGD (``PGD_L2._attack_mutlinoise``): x_adv (B, ...) for ``noise`` (B, m, ...).

    The model is used as it is (the caller puts it in eval mode)."""
    m = noise.shape[1]
    x_rep, noise = repeat_copies(x, m), noise.flatten(0, 1)
    step_size = epsilon / steps * 2
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = soft_smoothed_nll(_smoothed_logits(model, x_rep, delta, noise, m), y, m)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = delta + step_size * _normalized(grad, generator)
            delta = (delta + x).clamp_(0, 1) - x
            delta = delta.renorm(p=2, dim=0, maxnorm=epsilon)
    return x + delta.detach()


def _quantized(t: torch.Tensor, levels: int = 256) -> torch.Tensor:
    return (t * (levels - 1)).round() / (levels - 1)


def ddn_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, epsilon: float,
               steps: int, gamma: float = 0.05, init_norm: float | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """SmoothAdv's DDN (``DDN._attack_mutlinoise``): x_adv (B, ...) for ``noise`` (B, m, ...).

    ``init_norm`` defaults to ``epsilon``, as ``train_pgd.py`` sets it. The model is used as it
    is (the caller puts it in eval mode)."""
    m = noise.shape[1]
    x_rep, noise = repeat_copies(x, m), noise.flatten(0, 1)
    batch = len(x)
    view = (-1, *([1] * (x.dim() - 1)))
    delta = torch.zeros_like(x)
    norm = torch.full((batch,), epsilon if init_norm is None else init_norm, device=x.device, dtype=torch.float)
    worst_norm = torch.max(x, 1 - x).flatten(1).norm(p=2, dim=1)
    best_l2 = worst_norm.clone()
    best_delta = torch.zeros_like(x)
    for i in range(steps):
        # CosineAnnealingLR(T_max=steps, eta_min=0.01) on lr 1, stepped before the step
        lr = 0.01 + (1 - 0.01) * (1 + math.cos(math.pi * (i + 1) / steps)) / 2
        l2 = delta.flatten(1).norm(p=2, dim=1)
        delta.requires_grad_(True)
        logits = _smoothed_logits(model, x_rep, delta, noise, m)
        loss = soft_smoothed_nll(logits, y, m)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            predicted = logits.argmax(1).reshape(-1, m).mode(1)[0]
            is_adv = predicted != y
            is_both = is_adv & (l2 < best_l2)
            best_l2[is_both] = l2[is_both]
            best_delta[is_both] = delta[is_both]
            delta = delta + lr * _normalized(grad, generator)
            norm = norm * (1 - (2 * is_adv.float() - 1) * gamma)
            norm = torch.min(norm, worst_norm)
            delta = delta * (norm / delta.flatten(1).norm(p=2, dim=1)).view(view)
            delta = _quantized(delta + x).clamp_(0, 1) - x
    best_delta = _quantized(best_delta.renorm(p=2, dim=0, maxnorm=epsilon))
    return x + best_delta


ATTACKS = {"pgd": pgd_attack, "ddn": ddn_attack}


def smoothadv_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, epsilon: float,
                   steps: int, attack: str = "pgd", ddn_gamma: float = 0.05,
                   generator: torch.Generator | None = None, attack_model: nn.Module | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothAdv's multi-noise loss of one batch: (mean CE over the B * m copies, x_adv).

    ``noise`` (B, m, ...) is used by the attack and by the loss; ``epsilon`` is the radius
    already warmed up. ``attack_model`` (default ``model``) runs the attack in eval mode; the
    loss runs ``model`` in train mode, which it is left in."""
    attacker = model if attack_model is None else attack_model
    was_training = attacker.training
    attacker.eval()
    if attack == "ddn":
        x_adv = ddn_attack(attacker, x, y, noise, epsilon, steps, ddn_gamma, generator=generator)
    elif attack == "pgd":
        x_adv = pgd_attack(attacker, x, y, noise, epsilon, steps, generator)
    else:
        raise ValueError(f"unknown SmoothAdv attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    attacker.train(was_training)
    m = noise.shape[1]
    model.train()
    logits = model(repeat_copies(x_adv, m) + noise.flatten(0, 1))
    return F.cross_entropy(logits, repeat_copies(y, m)), x_adv

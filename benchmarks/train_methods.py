#!/usr/bin/env python
"""Training throughput (images/s) of every training method: our step (``training.train_step``)
against a straightforward loop in its authors' structure, on the same model, batch and
machine, and each method's cost relative to Gaussian augmentation (ours).

The authors' structure (written out here, not their code): PIL images through a DataLoader
with RandomCrop/RandomHorizontalFlip/ToTensor; SmoothAdv (Salman et al.'s ``train_pgd.py``)
and consistency (Jeong & Shin's ``train_consistency.py``) split every batch into m chunks
and take one SGD step per chunk; SmoothAdv's PGD switches the weights' ``requires_grad`` off
and calls ``backward()`` through an SGD optimizer on delta; MACER (Zhai et al.'s
``macer.py``) and Gaussian augmentation take one step per batch; every step ends with
``loss.item()``. Ours: uint8 tensors in memory, batched crops and flips, input-only gradients
in the attack, no host synchronisation in the loop, and for SmoothAdv and consistency one step
per batch / m images in m copies (``batch_size`` = their batch / m, as docs/training-methods.md tells
users to set it), so that both take the same SGD steps on network batches of the same size: the
ratio measures the loop, not the algorithm or the batch size.

    PYTHONPATH=src python benchmarks/train_methods.py --quick
"""
from __future__ import annotations

import copy
import dataclasses
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from train_throughput import PILDataset

from linf_smoothing.cli import argument_parser
from linf_smoothing.devices import resolve_device
from linf_smoothing.models import cifar_resnet
from linf_smoothing.settings import TrainSettings
from linf_smoothing.training import make_optimizer, train_step
from measure import add_timing_arguments, interleaved_rates, machine, report

M = {"smoothadv": 4, "consistency": 2, "macer": 16}
CHUNKED = ("smoothadv", "consistency")  # the authors step once per batch / m images


def _requires_grad(model, flag):
    for p in model.parameters():
        p.requires_grad_(flag)


def authors_pgd(model, inputs, labels, noise, m, max_norm, steps):
    """SmoothAdv's PGD as their attacks.py writes it (backward through an SGD optimizer on delta)."""
    delta = torch.zeros((len(labels), *inputs.shape[1:]), requires_grad=True, device=inputs.device)
    optimizer = torch.optim.SGD([delta], lr=max_norm / steps * 2)
    for _ in range(steps):
        logits = model(inputs + delta.repeat(1, m, 1, 1).view_as(inputs) + noise)
        average = F.softmax(logits, 1).reshape(-1, m, logits.shape[-1]).mean(1)
        loss = -F.nll_loss(torch.log(average.clamp(min=1e-20)), labels)
        optimizer.zero_grad()
        loss.backward()
        norms = delta.grad.view(len(labels), -1).norm(p=2, dim=1)
        delta.grad.div_(norms.view(-1, 1, 1, 1))
        optimizer.step()
        delta.data.add_(inputs[::m]).clamp_(0, 1).sub_(inputs[::m])
        delta.data.renorm_(p=2, dim=0, maxnorm=max_norm)
    return inputs + delta.detach().repeat(1, m, 1, 1).view_as(inputs)


def authors_step(method, model, optimizer, x, y, s: TrainSettings, device):
    x, y = x.to(device), y.to(device)
    m = s.noise_copies
    if method == "gaussian":
        loss = F.cross_entropy(model(x + s.sigma * torch.randn_like(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    if method == "macer":
        inputs = x.repeat((1, m, 1, 1)).view(len(x) * m, *x.shape[1:])
        outputs = model(inputs + torch.randn_like(inputs) * s.sigma).reshape(len(x), m, -1)
        classification = F.nll_loss(torch.log(F.softmax(outputs, 2).mean(1) + 1e-10), y, reduction="sum")
        normal = torch.distributions.Normal(torch.tensor([0.0], device=device), torch.tensor([1.0], device=device))
        top2_score, top2_idx = torch.topk(F.softmax(outputs * s.macer_beta, 2).mean(1), 2)
        correct = top2_idx[:, 0] == y
        out0, out1 = top2_score[correct, 0], top2_score[correct, 1]
        robustness = normal.icdf(out1) - normal.icdf(out0)
        keep = ~torch.isnan(robustness) & ~torch.isinf(robustness) & (robustness.abs() <= s.macer_gamma)
        robustness = (normal.icdf(out1[keep]) - normal.icdf(out0[keep]) + s.macer_gamma).sum() * s.sigma / 2
        loss = (classification + s.macer_lambda * robustness) / len(x)
        classification.item(), robustness.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    chunk = len(x) // m
    for i in range(m):  # one SGD step per chunk of batch / m images, as the authors
        inputs, targets = x[i * chunk:(i + 1) * chunk], y[i * chunk:(i + 1) * chunk]
        if method == "smoothadv":
            inputs = inputs.repeat((1, m, 1, 1)).view(chunk * m, *x.shape[1:])
            noise = torch.randn_like(inputs) * s.sigma
            _requires_grad(model, False)
            model.eval()
            inputs = authors_pgd(model, inputs, targets, noise, m, s.epsilon, s.attack_steps)
            model.train()
            _requires_grad(model, True)
            loss = F.cross_entropy(model(inputs + noise), targets.unsqueeze(1).repeat(1, m).reshape(-1))
        else:  # consistency
            noises = [torch.randn_like(inputs) * s.sigma for _ in range(m)]
            logits = model(torch.cat([inputs + n for n in noises]))
            loss = F.cross_entropy(logits, targets.repeat(m))
            softmax = [F.softmax(c, 1) for c in torch.chunk(logits, m)]
            average = sum(softmax) / m
            kl = sum(F.kl_div(F.log_softmax(c, 1), average, reduction="none").sum(1)
                     for c in torch.chunk(logits, m)) / m
            entropy = (-average * torch.log(average.clamp(min=1e-20))).sum(1)
            loss = loss + (s.consistency_lambda * kl + s.consistency_eta * entropy).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()


def case_name(method: str, attack: str) -> str:
    return method + ("_" + attack if method == "smoothadv" else "")


def settings_for(method: str, depth: int, size: int, batch_size: int, attack: str = "pgd") -> TrainSettings:
    keys = {"gaussian": {},
            "smoothadv": {"epsilon": 1.0 * size / 32, "attack_steps": 4, "noise_copies": M["smoothadv"],
                          "attack": attack},
            "consistency": {"noise_copies": M["consistency"], "consistency_lambda": 10.0},
            "macer": {"noise_copies": M["macer"], "macer_lambda": 12.0}}[method]
    return TrainSettings(method=method, depth=depth, widths=(16, 32, 64), sigma=0.12 * size / 32, epochs=1,
                         batch_size=batch_size, lr=0.1, momentum=0.9, weight_decay=1e-4, lr_gamma=0.1,
                         crop_padding=4, seed=1, **keys)


def main(argv=None) -> list[dict]:
    parser = argument_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="ResNet-8 at 16 px, batch 16, one batch, 2 rounds")
    parser.add_argument("--depth", type=int, default=20, help="CIFAR ResNet depth")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    add_timing_arguments(parser, "images per step (default: 32 on a CPU, 256 on CUDA)",
                         "results/speed/train_methods.csv")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                        help="measure only these (gaussian, the reference of the costs, always runs): "
                             "smoothadv_pgd smoothadv_ddn consistency macer (default: all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.depth, args.size, args.batch_size, args.batches, args.rounds = 8, 16, 16, 1, 2
    device = resolve_device(args.device)
    batch_size = args.batch_size or (256 if device.type == "cuda" else 32)
    rng = np.random.default_rng(0)
    n = batch_size * args.batches
    images = rng.integers(0, 256, (n, 3, args.size, args.size), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    x_device, y_device = torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, args.size), batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    initial = cifar_resnet(args.depth).to(device)
    cases = [("gaussian", "pgd"), ("smoothadv", "pgd"), ("smoothadv", "ddn"), ("consistency", "pgd"), ("macer", "pgd")]
    cases = [(method, attack) for method, attack in cases
             if args.methods is None or method == "gaussian" or case_name(method, attack) in args.methods]
    contenders = {}
    for method, attack in cases:
        name = case_name(method, attack)
        s = settings_for(method, args.depth, args.size, batch_size, attack)
        ours_model, authors_model = copy.deepcopy(initial), copy.deepcopy(initial)
        ours_optimizer, authors_optimizer = make_optimizer(ours_model, s), make_optimizer(authors_model, s)
        generator = torch.Generator(device=device).manual_seed(0)

        step = batch_size // s.noise_copies if method in CHUNKED else batch_size
        s = dataclasses.replace(s, batch_size=step)

        def ours(s=s, model=ours_model, optimizer=ours_optimizer, generator=generator):
            for idx in torch.randperm(n, device=device).split(s.batch_size):
                train_step(model, optimizer, x_device[idx], y_device[idx], s, generator)

        contenders[f"{name}/ours"] = ours
        if attack == "pgd":  # the authors' structure of DDN is their PGD's with another update: not repeated
            def authors(method=method, s=s, model=authors_model, optimizer=authors_optimizer):
                for x, y in itertools.islice(loader, args.batches):
                    authors_step(method, model, optimizer, x, y, s, device)

            contenders[f"{name}/authors"] = authors
    rates = interleaved_rates(contenders, n, args.rounds, device)
    rows = []
    for method, attack in cases:
        name = case_name(method, attack)
        ours_rate, authors_rate = rates[f"{name}/ours"], rates.get(f"{name}/authors")
        copies = settings_for(method, args.depth, args.size, batch_size).noise_copies
        rows.append({"method": name, "model": f"resnet{args.depth}", "size": args.size, "batch": batch_size,
                     "copies": copies, "images_per_step": batch_size // copies if method in CHUNKED else batch_size,
                     "device": machine(device), "ours_images_per_s": round(ours_rate, 2),
                     "authors_structure_images_per_s": round(authors_rate, 2) if authors_rate else "",
                     "ours_vs_authors_structure": ours_rate / authors_rate if authors_rate else "",
                     "cost_vs_gaussian": rates["gaussian/ours"] / ours_rate})
    return report(rows, args.out)


if __name__ == "__main__":
    main()

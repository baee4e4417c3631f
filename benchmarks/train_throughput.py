#!/usr/bin/env python
"""TRADES + noise training throughput (images/s) of our step against a straightforward loop
with the same loss, on the same model, batch and machine.

The straightforward loop is TRADES' reference structure: PIL images through a DataLoader
with RandomCrop/RandomHorizontalFlip/ToTensor transforms, an inner maximization that
recomputes the natural logits at every step and calls ``backward()`` (parameter gradients
included) through an SGD optimizer on delta, and ``loss.item()`` after every batch.
Ours: uint8 tensors in memory, batched crops and flips, natural logits computed once,
input-only gradients in the attack, no host synchronisation in the loop.
"""
from __future__ import annotations

import copy
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from linf_smoothing.cli import argument_parser
from linf_smoothing.devices import resolve_device
from linf_smoothing.models import cifar_resnet
from linf_smoothing.settings import TrainSettings
from linf_smoothing.training import make_optimizer, train_step
from measure import add_timing_arguments, interleaved_rates, machine, report


class PILDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int):
        self.images = [Image.fromarray(im.transpose(1, 2, 0)) for im in images]
        self.labels = labels
        self.transform = transforms.Compose([transforms.RandomCrop(size, padding=4),
                                             transforms.RandomHorizontalFlip(), transforms.ToTensor()])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def straightforward_adversary(model, x, eta, s: TrainSettings):
    """TRADES' inner maximization as usually written: natural logits recomputed each step,
    ``backward()`` through an SGD optimizer on delta (parameter gradients included)."""
    model.eval()
    delta = (0.001 * torch.randn_like(x)).requires_grad_(True)
    delta_optimizer = torch.optim.SGD([delta], lr=2 * s.epsilon / s.attack_steps)
    for _ in range(s.attack_steps):
        loss = -F.kl_div(F.log_softmax(model(x + delta + eta), 1), F.softmax(model(x + eta), 1), reduction="sum")
        delta_optimizer.zero_grad()
        loss.backward()
        norms = delta.grad.view(len(x), -1).norm(dim=1)
        if (norms == 0).any():
            delta.grad[norms == 0] = torch.randn_like(delta.grad[norms == 0])
            norms = delta.grad.view(len(x), -1).norm(dim=1)
        delta.grad.div_(norms.view(-1, 1, 1, 1))
        delta_optimizer.step()
        delta.data.add_(x).clamp_(0, 1).sub_(x)
        delta.data.renorm_(p=2, dim=0, maxnorm=s.epsilon)
    return (x + delta.detach()).clamp(0, 1)


def straightforward_step(model, optimizer, x, y, s: TrainSettings, device):
    x, y = x.to(device), y.to(device)
    eta = s.sigma * torch.randn_like(x)
    x_adv = straightforward_adversary(model, x, eta, s)
    model.train()
    optimizer.zero_grad()
    # TRADES' outer loss as written: the natural batch runs twice (once for each term).
    loss_natural = F.cross_entropy(model(x + eta), y)
    robust = F.kl_div(F.log_softmax(model(x_adv + eta), 1), F.softmax(model(x + eta), 1), reduction="sum") / len(x)
    loss = loss_natural + s.beta * robust
    loss.backward()
    optimizer.step()
    return loss.item()


def run(depth: int, size: int, batch_size: int, batches: int, rounds: int, device: torch.device) -> dict:
    settings = TrainSettings(method="trades", depth=depth, widths=(16, 32, 64), mixed_precision=False,
                             sigma=0.12 * size / 32, epsilon=0.435 * size / 32, beta=6.0, attack_steps=10,
                             epochs=1, batch_size=batch_size, lr=0.1, momentum=0.9, weight_decay=1e-4,
                             lr_milestones=(), lr_gamma=0.1, crop_padding=4, seed=1)
    rng = np.random.default_rng(0)
    n = batch_size * batches
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    torch.manual_seed(0)
    ours_model = cifar_resnet(depth).to(device)
    reference_model = copy.deepcopy(ours_model)
    ours_optimizer = make_optimizer(ours_model, settings)
    reference_optimizer = make_optimizer(reference_model, settings)
    x_device, y_device = torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, size), batch_size=batch_size, shuffle=True)

    def ours():
        for idx in torch.randperm(n, device=device).split(batch_size):
            train_step(ours_model, ours_optimizer, x_device[idx], y_device[idx], settings, generator)

    def reference():
        for x, y in itertools.islice(loader, batches):
            straightforward_step(reference_model, reference_optimizer, x, y, settings, device)

    rates = interleaved_rates({"ours": ours, "reference": reference}, n, rounds, device)
    return {"model": f"resnet{depth}", "size": size, "batch": batch_size, "attack_steps": 10,
            "device": machine(device), "ours_images_per_s": round(rates["ours"], 2),
            "reference_images_per_s": round(rates["reference"], 2),
            "ours_vs_reference": rates["ours"] / rates["reference"]}


def main(argv=None) -> list[dict]:
    parser = argument_parser(__doc__)
    parser.add_argument("--depths", type=int, nargs="+", default=[110, 20], help="CIFAR ResNet depths")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    add_timing_arguments(parser, "images per step (default: 32 on a CPU, 256 on CUDA)",
                         "results/speed/train_throughput.csv")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    batch_size = args.batch_size or (256 if device.type == "cuda" else 32)
    rows = [run(depth, args.size, batch_size, args.batches, args.rounds, device) for depth in args.depths]
    return report(rows, args.out)


if __name__ == "__main__":
    main()

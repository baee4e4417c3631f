#!/usr/bin/env python
"""Certification sampling throughput (noisy samples/s) of our fast path against
(a) a straightforward reference loop with Cohen et al.'s structure (per batch: repeat the
image, fresh noise, argmax, count on the host), and (b) the model's raw batched forward
throughput (eager, no noise), on the same model, batch and machine. Also measures how often
the fast path's predictions agree with the plain model's on the same noise.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from linf_smoothing.cli import argument_parser
from linf_smoothing.devices import resolve_device
from linf_smoothing.models import cifar_resnet, inference_model
from linf_smoothing.smoothing import sample_counts
from measure import add_timing_arguments, interleaved_rates, machine, report

MODELS = {"resnet110": (110, 32), "resnet20": (20, 32)}


def reference_counts(model, x, sigma, num, batch_size, num_classes):
    """Cohen et al.'s sampling loop: repeat, randn_like, forward, argmax, count on the host."""
    counts = np.zeros(num_classes, dtype=np.int64)
    with torch.no_grad():
        remaining = num
        while remaining > 0:
            this = min(batch_size, remaining)
            batch = x.repeat((this, 1, 1, 1))
            noise = torch.randn_like(batch) * sigma
            predictions = model(batch + noise).argmax(1)
            counts += np.bincount(predictions.cpu().numpy(), minlength=num_classes)
            remaining -= this
    return counts


def agreement(plain, fast, x, sigma, num, batch_size, mixed_precision=False):
    """Share of identical predictions of the two models on the same noisy inputs."""
    same, generator = 0, torch.Generator(device=x.device).manual_seed(0)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=mixed_precision)
    with torch.inference_mode():
        for start in range(0, num, batch_size):
            this = min(batch_size, num - start)
            noisy = x + sigma * torch.randn((this, *x.shape), device=x.device, generator=generator)
            with autocast:
                fast_prediction = fast(noisy).argmax(1)
            same += (plain(noisy).argmax(1) == fast_prediction).sum().item()
    return same / num


def run(model_name: str, batch_size: int, batches: int, rounds: int, compile: bool, device: torch.device,
        sigma: float = 0.12) -> dict:
    depth, size = MODELS[model_name]
    torch.manual_seed(0)
    model = cifar_resnet(depth).to(device).eval()
    fast = inference_model(copy.deepcopy(model), device, compile)
    x = torch.rand(3, size, size, device=device)
    num = batch_size * batches
    clean = x.expand(batch_size, *x.shape).contiguous()

    def forward():
        with torch.inference_mode():
            for _ in range(batches):
                model(clean).argmax(1)

    generator = torch.Generator(device=device).manual_seed(1)
    contenders = {
        "ours": lambda: sample_counts(fast, x, sigma, num, batch_size, 10, generator=generator),
        "reference": lambda: reference_counts(model, x, sigma, num, batch_size, 10),
        "forward": forward,
    }
    if device.type == "cuda":
        contenders["ours_bf16"] = lambda: sample_counts(fast, x, sigma, num, batch_size, 10, generator=generator,
                                                       mixed_precision=True)
    rates = interleaved_rates(contenders, num, rounds, device)
    row = {"model": model_name, "size": size, "batch": batch_size, "device": machine(device), "compile": compile,
           **{f"{k}_samples_per_s": round(v, 1) for k, v in rates.items()},
           "ours_vs_reference": rates["ours"] / rates["reference"], "ours_vs_forward": rates["ours"] / rates["forward"],
           "agreement_with_plain_fp32": agreement(model, fast, x, sigma, min(num, 4 * batch_size), batch_size)}
    if device.type == "cuda":
        row["bf16_agreement_with_fp32"] = agreement(model, fast, x, sigma, min(num, 4 * batch_size), batch_size, True)
    return row


def main(argv=None) -> list[dict]:
    parser = argument_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models to measure")
    add_timing_arguments(parser, "noisy copies per forward pass (default: 256 on a CPU, 10000 on CUDA)",
                         "results/speed/certify_throughput.csv")
    parser.add_argument("--no-compile", action="store_true", help="measure the eager fast path")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    batch_size = args.batch_size or (10000 if device.type == "cuda" else 256)
    rows = [run(name, batch_size, args.batches, args.rounds, not args.no_compile, device) for name in args.models]
    return report(rows, args.out)


if __name__ == "__main__":
    main()

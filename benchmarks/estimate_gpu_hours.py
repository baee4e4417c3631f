#!/usr/bin/env python
"""Estimated GPU hours of a configuration's trainings and certifications, from FLOPs counted
on the CPU (no GPU needed): by default the comparison profile's (config.yaml with
profiles/comparison/comparison.yaml over it).

For each trained experiment it counts (``linf_smoothing.costs``, under
``torch.utils.flop_counter.FlopCounterMode``) one real training step of the experiment's
method (``training.train_step``: the method's loss, its attack, backward and the SGD step) on
a random batch of ``--batch`` images at the experiment's size, and one sampling call of the
certification's smoothed classifier (``smoothing.Smooth.votes``) on ``--batch`` noisy copies:

- training = (step FLOPs per image x training images + forward FLOPs x (training images + 2 x
  test images), the loop's per-epoch accuracies) x epochs (``costs.training_flops``);
- certification = forward FLOPs x (N0 + N) x certified test images (every skip-th, at most
  max_images), plus N per image for PREDICT where enabled.

FLOPs become hours at a sustained rate, ``--tflops``. Its default, 10 TFLOP/s, is an
ASSUMPTION, not a measurement: no GPU was available where this was written. It is meant as a
conservative sustained rate for a ResNet-110 (16-64 channels, poorly filling a large GPU) on
one H100-class GPU in fp32/TF32, about 4x the rate implied on a P100 by the timings in MACER's
README (Zhai et al. 2020, ResNet-110 at 32 px on one P100: Gaussian augmentation 31.4 s an
epoch, MACER with k = 16 504 s an epoch; by this script's counts, 2.6 and 2.4 TFLOP/s). To
replace it, measure training images/s on the GPU (``python benchmarks/run_all.py`` or
``benchmarks/train_throughput.py``), multiply by the method's step GFLOP per image that this
script prints, and pass the result in TFLOP/s.

    PYTHONPATH=src python benchmarks/estimate_gpu_hours.py                  # the comparison profile
    PYTHONPATH=src python benchmarks/estimate_gpu_hours.py --configfile     # config.yaml alone
    PYTHONPATH=src python benchmarks/estimate_gpu_hours.py --tflops 25
"""
from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import torch

from linf_smoothing.cli import argument_parser
from linf_smoothing.config import (
    certify_settings,
    load_yaml,
    merged,
    predict_settings,
    train_settings,
    trained_experiments,
    validate_config,
)
from linf_smoothing.costs import sampling_flops, training_flops, training_step_flops
from linf_smoothing.datasets import CHANNELS, TEST_IMAGES, TRAIN_IMAGES
from linf_smoothing.settings import TrainSettings
from linf_smoothing.shards import selected_images

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OVERLAYS = ["profiles/comparison/comparison.yaml"]
ASSUMED_TFLOPS = 10.0


@dataclasses.dataclass(frozen=True)
class Estimate:
    name: str
    method: str
    image_size: int
    epochs: int
    step_flops_per_image: float
    forward_flops: float
    training_flops: float
    certified_images: int
    certification_flops: float

    def hours(self, tflops: float) -> float:
        return (self.training_flops + self.certification_flops) / (tflops * 1e12) / 3600


def method_label(settings: TrainSettings) -> str:
    """The method, with SmoothAdv's attack and a noise other than the Gaussian (its own group)."""
    label = f"{settings.method} ({settings.attack})" if settings.method == "smoothadv" else settings.method
    return label if settings.noise == "gaussian" else f"{label}, {settings.noise} noise"


def estimate(config: dict, batch: int = 1) -> list[Estimate]:
    """One ``Estimate`` per trained experiment of the (validated, merged) ``config``, on its
    dataset's training and test images."""
    dataset = config["dataset"]
    channels, train_images, test_images = CHANNELS[dataset], TRAIN_IMAGES[dataset], TEST_IMAGES[dataset]
    step = functools.lru_cache(maxsize=None)(training_step_flops)
    forward = functools.lru_cache(maxsize=None)(sampling_flops)
    estimates = []
    for name in trained_experiments(config):
        image_size = next(exp["image_size"] for exp in config["experiments"] if exp["name"] == name)
        settings = train_settings(config, name)
        per_image = step(settings, image_size, batch, channels)
        per_sample = forward(settings.depth, settings.widths, image_size, 0.25, batch, channels)
        training = training_flops(settings.epochs, per_image, per_sample, train_images, test_images)
        certify = certify_settings(config, name)
        images = len(selected_images(test_images, certify.skip, certify.max_images))
        samples = certify.n0 + certify.n
        if config["predict"]["enabled"]:
            samples += predict_settings(config, name).n
        estimates.append(Estimate(name, method_label(settings), image_size, settings.epochs, per_image, per_sample,
                                  training, images, per_sample * samples * images))
    return estimates


def _pflop(flops: float) -> str:
    pflop = flops / 1e15
    return f"{pflop:,.0f}" if pflop >= 100 else f"{pflop:.1f}" if pflop >= 0.1 else f"{pflop:.2g}"


def table(estimates: list[Estimate], tflops: float) -> str:
    """A Markdown table per experiment, then per method and in total."""
    rows = ["| experiment | method | size | epochs | step GFLOP/image (x forward) | training PFLOP "
            "| certified images | certification PFLOP | GPU hours |",
            "|---|---|---|---|---|---|---|---|---|"]
    for e in estimates:
        rows.append(f"| {e.name} | {e.method} | {e.image_size} | {e.epochs} | {e.step_flops_per_image / 1e9:.2f} "
                    f"({e.step_flops_per_image / e.forward_flops:.1f}) | {_pflop(e.training_flops)} "
                    f"| {e.certified_images:,} | {_pflop(e.certification_flops)} | {e.hours(tflops):,.1f} |")
    rows += ["", "| method | training PFLOP | certification PFLOP | GPU hours |", "|---|---|---|---|"]
    methods = dict.fromkeys(e.method for e in estimates)
    for method in [*methods, None]:
        chosen = [e for e in estimates if method is None or e.method == method]
        label = "**total**" if method is None else method
        rows.append(f"| {label} | {_pflop(sum(e.training_flops for e in chosen))} "
                    f"| {_pflop(sum(e.certification_flops for e in chosen))} "
                    f"| {sum(e.hours(tflops) for e in chosen):,.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> list[Estimate]:
    parser = argument_parser(__doc__)
    parser.add_argument("--configfile", nargs="*", default=DEFAULT_OVERLAYS,
                        help="overlays merged over config.yaml, in order; none: the paper's")
    parser.add_argument("--tflops", type=float, default=ASSUMED_TFLOPS,
                        help="sustained TFLOP/s of one GPU (the default is an assumption, see above)")
    parser.add_argument("--batch", type=int, default=1, help="images (and noisy copies) of the counted step")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the counted steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_yaml(ROOT / "config.yaml")
    for path in args.configfile:
        config = merged(config, load_yaml(ROOT / path if not Path(path).is_absolute() else path))
    validate_config(config)
    start = time.perf_counter()
    estimates = estimate(config, args.batch)
    print(f"Configuration: config.yaml{''.join(', ' + p for p in args.configfile)}; FLOPs counted on the CPU "
          f"(FlopCounterMode, batch {args.batch}) in {time.perf_counter() - start:.0f} s.")
    print(f"GPU hours at {args.tflops:g} TFLOP/s sustained on one GPU"
          + (" -- an ASSUMED rate, not measured (see --help to replace it)." if args.tflops == ASSUMED_TFLOPS
             else "."))
    print()
    print(table(estimates, args.tflops))
    return estimates


if __name__ == "__main__":
    main()

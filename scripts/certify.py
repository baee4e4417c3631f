#!/usr/bin/env python
"""Certify a trained model's smoothed classifier on test images (randomized smoothing,
Clopper-Pearson bounds) and write one TSV row per image: idx label predict radius correct
time, radius being the l-inf radius R2 / sqrt(d), then radius_l2 pa_lower pb_upper
count_a count_b.

Each image's noise comes from its own generator, seeded with (seed, idx), so a subset, a
shard (--shard I --shards K) or a re-run of the same images gives the same rows;
gather_certification.py joins the shards."""
import argparse
import logging
import time

import torch

from linf_smoothing import cli
from linf_smoothing.data import read_split, to_float
from linf_smoothing.models import inference_model
from linf_smoothing.results import CertificationWriter, load_model
from linf_smoothing.bounds import max_certifiable_radius
from linf_smoothing.shards import image_seed, selected_images, shard_images
from linf_smoothing.smoothing import ABSTAIN, VARIANTS, certify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint written by train.py")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    parser.add_argument("--sigma", type=float, required=True)
    parser.add_argument("--n0", type=int, required=True, help="selection samples")
    parser.add_argument("--n", type=int, required=True, help="estimation samples")
    parser.add_argument("--alpha", type=float, required=True, help="failure probability")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--variant", choices=VARIANTS, default="blum")
    parser.add_argument("--skip", type=int, default=1, help="certify images with idx %% skip == 0")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--shard", type=int, default=0, help="certify this part (0-based) of the selected images")
    parser.add_argument("--shards", type=int, default=1, help="split the selected images into this many parts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (pays on long runs)")
    parser.add_argument("--mixed-precision", action="store_true", help="bf16 autocast on CUDA")
    parser.add_argument("--threshold", type=float, default=2 / 255,
                        help="l-inf radius whose certified accuracy the log's last line reports (only the log; "
                             "the tables take theirs from analysis.linf_threshold)")
    cli.add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="certification TSV")
    args = parser.parse_args()
    log = logging.getLogger("certify")

    device = cli.device_from_arguments(args)
    model, meta = load_model(args.model, device)
    model = inference_model(model, device, args.compile)
    if abs(meta["sigma"] - args.sigma) > 1e-12:
        log.warning("certifying at sigma %g a model trained at sigma %g", args.sigma, meta["sigma"])
    images, labels = read_split(args.test_data)
    indices = shard_images(selected_images(len(images), args.skip, args.max_images), args.shard, args.shards)
    dimension = images[0].size
    log.info("shard %d of %d: %d images (every %d-th), d = %d, sigma %g, N0 %d, N %d, alpha %g, %s variant, on %s; "
             "largest certifiable l-inf radius %.6f", args.shard + 1, args.shards, len(indices), args.skip, dimension, args.sigma, args.n0,
             args.n, args.alpha, args.variant, device, max_certifiable_radius(args.sigma, args.n, args.alpha, dimension))

    correct = abstained = certified = 0
    start = time.perf_counter()
    with CertificationWriter(args.out) as writer:
        for count, idx in enumerate(indices, 1):
            t0 = time.perf_counter()
            x = to_float(torch.from_numpy(images[idx]).to(device))
            generator = torch.Generator(device=device).manual_seed(image_seed(args.seed, idx))
            cert = certify(model, x, args.sigma, args.n0, args.n, args.alpha, args.batch_size,
                           meta["num_classes"], args.variant, generator, args.mixed_precision)
            writer.write(idx, int(labels[idx]), cert, time.perf_counter() - t0)
            correct += cert.predict == labels[idx]
            abstained += cert.predict == ABSTAIN
            certified += cert.predict == labels[idx] and cert.radius_linf >= args.threshold
            if count % max(1, len(indices) // 20) == 0 or count == len(indices):
                elapsed = time.perf_counter() - start
                log.info("%d/%d images, %.2f s/image, %.0f samples/s, accuracy so far %.4f, abstentions %d",
                         count, len(indices), elapsed / count, count * (args.n0 + args.n) / elapsed,
                         correct / count, abstained)
    images = max(1, len(indices))
    log.info("done: %d images, %d abstentions, smoothed accuracy %.4f, certified accuracy %.4f at l-inf %.6f, "
             "%.0f samples/s", len(indices), abstained, correct / images, certified / images, args.threshold,
             len(indices) * (args.n0 + args.n) / (time.perf_counter() - start))


if __name__ == "__main__":
    cli.run(main)

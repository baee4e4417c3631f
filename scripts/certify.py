#!/usr/bin/env python
"""Certify a trained model's smoothed classifier on test images (randomized smoothing under
--noise, Gaussian by default; Clopper-Pearson bounds) and write one TSV row per image: idx
label predict radius correct time, radius being the l-inf radius of the --variant certificate
(the Gaussian's: R2 / sqrt(d); every noise's: its best, linf_smoothing.noises), then
radius_l2 pa_lower pb_upper count_a count_b of that certificate and the per-class vote counts
(selection_counts, estimation_counts) from which the analysis recomputes every variant.
Beside it, OUT.json describes the run (dataset, image size, d, settings, model digest).

Each image's noise comes from its own generator, seeded with (seed, idx), so a subset, a
shard (--shard I --shards K) or a re-run of the same images gives the same rows;
gather_certification.py joins the shards."""
import argparse
import logging
import time

import numpy as np
import torch

from linf_smoothing import cli
from linf_smoothing.certificates import ABSTAIN, certify_counts, check_variant, max_certifiable_radius
from linf_smoothing.data import to_float
from linf_smoothing.results import CertificationWriter
from linf_smoothing.settings import CertifySettings, from_arguments
from linf_smoothing.shards import image_seed, selected_images, shard_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_smoothing_arguments(parser, CertifySettings, "certification TSV")
    parser.add_argument("--shard", type=int, default=0, help="certify this part (0-based) of the selected images")
    parser.add_argument("--shards", type=int, default=1, help="split the selected images into this many parts")
    args = parser.parse_args()
    settings = from_arguments(CertifySettings, args)
    log = logging.getLogger("certify")

    smooth, images, labels, description, device = cli.smoothed_classifier(args, settings)
    indices = shard_images(selected_images(len(images), settings.skip, settings.max_images), args.shard, args.shards)
    dimension = description["dimension"]
    noise = smooth.noise_for_dimension(dimension)
    check_variant(settings.variant, noise)  # before any sampling
    description.update(shard=args.shard, shards=args.shards)
    log.info("shard %d of %d: %d images, d = %d, on %s; %s; largest certifiable l-inf radius %.6f",
             args.shard + 1, args.shards, len(indices), dimension, device, settings,
             max_certifiable_radius(settings.sigma, settings.n, settings.alpha, dimension, settings.variant, noise))

    correct = abstained = 0
    radii = []  # l-inf radii of the correct predictions
    start = time.perf_counter()
    with CertificationWriter(args.out, description, expected=indices) as writer:
        if writer.done:
            log.info("resuming after %d of %d images, which a killed run of the same settings wrote", writer.done,
                     len(indices))
        for count, idx in enumerate(indices[writer.done:], writer.done + 1):
            t0 = time.perf_counter()
            x = to_float(torch.from_numpy(images[idx]).to(device))
            generator = torch.Generator(device=device).manual_seed(image_seed(settings.seed, idx))
            counts = smooth.sample(x, settings.n0, settings.n, generator)
            cert = certify_counts(counts.selection, counts.estimation, settings.sigma, settings.alpha,
                                  settings.variant, dimension, noise)
            writer.write(idx, int(labels[idx]), cert, time.perf_counter() - t0, counts)
            correct += cert.predict == labels[idx]
            abstained += cert.predict == ABSTAIN
            if cert.predict == labels[idx]:
                radii.append(cert.radius_linf)
            if count % max(1, len(indices) // 20) == 0 or count == len(indices):
                here, elapsed = count - writer.done, time.perf_counter() - start
                log.info("%d/%d images, %.2f s/image, %.0f samples/s, accuracy so far %.4f, abstentions %d",
                         count, len(indices), elapsed / here, here * (settings.n0 + settings.n) / elapsed,
                         correct / here, abstained)
    # No threshold here: the table's (analysis.linf_threshold) must not rerun a certification;
    # the gather job's log reports certified accuracy at it.
    fresh = len(indices) - writer.done
    here = max(1, fresh)
    log.info("done: %d images (%d of them by this run), %d abstentions, smoothed accuracy %.4f, median l-inf radius "
             "of the correct predictions %.6f (%s certificate), %.0f samples/s; the run's images only",
             len(indices), fresh, abstained, correct / here, float(np.median(radii)) if radii else 0.0,
             settings.variant, here * (settings.n0 + settings.n) / (time.perf_counter() - start))

if __name__ == "__main__":
    cli.run(main)

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
import logging
import time

import numpy as np
import torch

from linf_smoothing import cli, validators
from linf_smoothing.certificates import ABSTAIN, certify_counts, check_variant, max_certifiable_radius
from linf_smoothing.data import to_float
from linf_smoothing.progress import Progress, clock_time
from linf_smoothing.results import CertificationWriter
from linf_smoothing.settings import CertifySettings
from linf_smoothing.shards import image_seed, selected_images, shard_images


def main() -> None:
    parser = cli.argument_parser(__doc__)
    cli.add_smoothing_arguments(parser, CertifySettings, "certification TSV")
    parser.add_argument("--shard", type=validators.non_negative_int, default=0,
                        help="certify this part (0-based) of the selected images")
    parser.add_argument("--shards", type=validators.shards, default=1,
                        help="split the selected images into this many parts")
    args = parser.parse_args()
    log = logging.getLogger("certify")

    run = cli.smoothed_classifier(args, CertifySettings)
    settings, smooth, images, labels, description, device = (run.settings, run.smooth, run.images, run.labels,
                                                             run.description, run.device)
    indices = shard_images(selected_images(len(images), settings.skip, settings.max_images), args.shard, args.shards)
    dimension = description["dimension"]
    noise = smooth.noise_for_dimension(dimension)
    check_variant(settings.variant, noise)  # before any sampling
    description.update(shard=args.shard, shards=args.shards)
    log.info("shard %d of %d: %d images, d = %d, on %s; %s; largest certifiable l-inf radius %.6f",
             args.shard + 1, args.shards, len(indices), dimension, device, settings,
             max_certifiable_radius(settings.sigma, settings.n, settings.alpha, dimension, settings.variant, noise))
    samples = settings.n0 + settings.n
    cli.check_sampling_time(args, run, "certifying", len(indices), samples)

    correct = abstained = 0
    radii = []  # l-inf radii of the correct predictions
    start = time.perf_counter()
    with CertificationWriter(args.out, description, expected=indices) as writer:
        if writer.done:
            log.info("resuming after %d of %d images, which a killed run of the same settings wrote", writer.done,
                     len(indices))
        with Progress(f"shard {args.shard + 1}/{args.shards}", len(indices), "images", "samples", log,
                      start=writer.done) as progress:
            for count, idx in enumerate(indices[writer.done:], writer.done + 1):
                t0 = time.perf_counter()
                x = to_float(torch.from_numpy(images[idx]).to(device))
                generator = torch.Generator(device=device).manual_seed(image_seed(settings.seed, idx))
                counts = smooth.sample(x, settings.n0, settings.n, generator=generator)
                cert = certify_counts(counts.selection, counts.estimation, settings.sigma, settings.alpha,
                                      settings.variant, dimension, noise)
                writer.write(idx, int(labels[idx]), cert, time.perf_counter() - t0, counts)
                correct += cert.predict == labels[idx]
                abstained += cert.predict == ABSTAIN
                if cert.predict == labels[idx]:
                    radii.append(cert.radius_linf)
                here = count - writer.done
                progress.update(count, here * samples,
                                f"accuracy so far {correct / here:.4f}, {abstained} abstentions")
    # No threshold here: the table's (analysis.linf_threshold) must not rerun a certification;
    # the gather job's log reports certified accuracy at it.
    fresh = len(indices) - writer.done
    here = max(1, fresh)
    log.info("done: %d images (%d of them by this run) in %s, %d abstentions, smoothed accuracy %.4f, median l-inf "
             "radius of the correct predictions %.6f (%s certificate), %.0f samples/s; the run's images only",
             len(indices), fresh, clock_time(time.perf_counter() - start), abstained, correct / here,
             float(np.median(radii)) if radii else 0.0, settings.variant,
             here * samples / (time.perf_counter() - start))


if __name__ == "__main__":
    cli.run(main)

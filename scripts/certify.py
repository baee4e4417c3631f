#!/usr/bin/env python
"""Certify a trained model's smoothed classifier on test images (randomized smoothing,
Clopper-Pearson bounds) and write one TSV row per image: idx label predict radius correct
time, radius being the l-inf radius R2 / sqrt(d) of the --variant certificate, then
radius_l2 pa_lower pb_upper count_a count_b of that certificate and the per-class vote counts
(selection_counts, estimation_counts) from which the analysis recomputes every variant.
Beside it, OUT.json describes the run (dataset, image size, d, settings, model digest).

Each image's noise comes from its own generator, seeded with (seed, idx), so a subset, a
shard (--shard I --shards K) or a re-run of the same images gives the same rows;
gather_certification.py joins the shards."""
import argparse
import logging
import time

import torch

import linf_smoothing
from linf_smoothing import cli
from linf_smoothing.certificates import ABSTAIN, certify_counts, max_certifiable_radius
from linf_smoothing.data import read_dataset_name, read_split, to_float
from linf_smoothing.models import inference_model
from linf_smoothing.results import CertificationWriter, check_image_size, file_digest, load_model
from linf_smoothing.settings import CertifySettings, add_arguments, as_dict, from_arguments
from linf_smoothing.shards import image_seed, selected_images, shard_images
from linf_smoothing.smoothing import Smooth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint written by train.py")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    add_arguments(parser, CertifySettings)
    parser.add_argument("--shard", type=int, default=0, help="certify this part (0-based) of the selected images")
    parser.add_argument("--shards", type=int, default=1, help="split the selected images into this many parts")
    parser.add_argument("--threshold", type=float, default=2 / 255,
                        help="l-inf radius whose certified accuracy the log's last line reports (only the log)")
    cli.add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="certification TSV")
    args = parser.parse_args()
    settings = from_arguments(CertifySettings, args)
    log = logging.getLogger("certify")

    device = cli.device_from_arguments(args)
    model, meta = load_model(args.model, device)
    model = inference_model(model, device, settings.compile)
    trained_sigma = meta.get("training", {}).get("sigma")
    if trained_sigma is not None and abs(trained_sigma - settings.sigma) > 1e-12:
        log.warning("certifying at sigma %g a model trained at sigma %g", settings.sigma, trained_sigma)
    images, labels = read_split(args.test_data)
    check_image_size(meta, images.shape[-1], args.model)
    indices = shard_images(selected_images(len(images), settings.skip, settings.max_images), args.shard, args.shards)
    dimension = images[0].size
    smooth = Smooth(model, meta["num_classes"], settings.sigma, settings.batch_size, settings.mixed_precision)
    description = {
        **as_dict(settings), "dataset": read_dataset_name(args.test_data), "image_size": int(images.shape[-1]),
        "dimension": int(dimension), "num_classes": int(meta["num_classes"]),
        "model_sha256": file_digest(args.model), "project_version": linf_smoothing.__version__,
        "shard": args.shard, "shards": args.shards}
    log.info("shard %d of %d: %d images, d = %d, on %s; %s; largest certifiable l-inf radius %.6f",
             args.shard + 1, args.shards, len(indices), dimension, device, settings,
             max_certifiable_radius(settings.sigma, settings.n, settings.alpha, dimension, settings.variant))

    correct = abstained = certified = 0
    start = time.perf_counter()
    with CertificationWriter(args.out, description) as writer:
        for count, idx in enumerate(indices, 1):
            t0 = time.perf_counter()
            x = to_float(torch.from_numpy(images[idx]).to(device))
            generator = torch.Generator(device=device).manual_seed(image_seed(settings.seed, idx))
            counts = smooth.sample(x, settings.n0, settings.n, generator)
            cert = certify_counts(counts.selection, counts.estimation, settings.sigma, settings.alpha,
                                  settings.variant, dimension)
            writer.write(idx, int(labels[idx]), cert, time.perf_counter() - t0, counts)
            correct += cert.predict == labels[idx]
            abstained += cert.predict == ABSTAIN
            certified += cert.predict == labels[idx] and cert.radius_linf >= args.threshold
            if count % max(1, len(indices) // 20) == 0 or count == len(indices):
                elapsed = time.perf_counter() - start
                log.info("%d/%d images, %.2f s/image, %.0f samples/s, accuracy so far %.4f, abstentions %d",
                         count, len(indices), elapsed / count, count * (settings.n0 + settings.n) / elapsed,
                         correct / count, abstained)
    images = max(1, len(indices))
    log.info("done: %d images, %d abstentions, smoothed accuracy %.4f, certified accuracy %.4f at l-inf %.6f "
             "(%s certificate), %.0f samples/s", len(indices), abstained, correct / images, certified / images,
             args.threshold, settings.variant,
             len(indices) * (settings.n0 + settings.n) / (time.perf_counter() - start))


if __name__ == "__main__":
    cli.run(main)

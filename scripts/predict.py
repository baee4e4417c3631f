#!/usr/bin/env python
"""Cohen et al.'s PREDICT with a trained model: for each selected test image, the smoothed
classifier's class if a two-sided binomial test of the top class's votes against the
runner-up's rejects a tie at level alpha, else an abstention (-1). A returned class differs
from the smoothed classifier's with probability at most alpha. Writes one TSV row per image,
`idx label predict correct time`, and OUT.json describing the run.

Each image's noise comes from its own generator, seeded with (seed, idx), as in certify.py."""
import argparse
import logging
import time

import torch

import linf_smoothing
from linf_smoothing import cli
from linf_smoothing.certificates import ABSTAIN
from linf_smoothing.data import read_dataset_name, read_split, to_float
from linf_smoothing.models import inference_model
from linf_smoothing.results import PredictionWriter, check_image_size, file_digest, load_model
from linf_smoothing.settings import PredictSettings, add_arguments, as_dict, from_arguments
from linf_smoothing.shards import image_seed, selected_images
from linf_smoothing.smoothing import Smooth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint written by train.py")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    add_arguments(parser, PredictSettings)
    cli.add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="prediction TSV")
    args = parser.parse_args()
    settings = from_arguments(PredictSettings, args)
    log = logging.getLogger("predict")

    device = cli.device_from_arguments(args)
    model, meta = load_model(args.model, device)
    smooth = Smooth(inference_model(model, device, settings.compile), meta["num_classes"], settings.sigma,
                    settings.batch_size, settings.mixed_precision)
    images, labels = read_split(args.test_data)
    check_image_size(meta, images.shape[-1], args.model)
    indices = selected_images(len(images), settings.skip, settings.max_images)
    description = {**as_dict(settings), "dataset": read_dataset_name(args.test_data),
                   "image_size": int(images.shape[-1]), "num_classes": int(meta["num_classes"]),
                   "model_sha256": file_digest(args.model), "project_version": linf_smoothing.__version__}
    log.info("%d images on %s; %s", len(indices), device, settings)
    correct = abstained = 0
    start = time.perf_counter()
    with PredictionWriter(args.out, description) as writer:
        for idx in indices:
            t0 = time.perf_counter()
            x = to_float(torch.from_numpy(images[idx]).to(device))
            generator = torch.Generator(device=device).manual_seed(image_seed(settings.seed, idx))
            predicted = smooth.predict(x, settings.n, settings.alpha, generator)
            writer.write(idx, int(labels[idx]), predicted, time.perf_counter() - t0)
            correct += predicted == labels[idx]
            abstained += predicted == ABSTAIN
    count = max(1, len(indices))
    log.info("done: %d images, accuracy %.4f, %d abstentions, %.2f s/image", len(indices), correct / count,
             abstained, (time.perf_counter() - start) / count)


if __name__ == "__main__":
    cli.run(main)

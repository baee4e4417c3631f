#!/usr/bin/env python
"""Cohen et al.'s PREDICT with a trained model: for each selected test image, the smoothed
classifier's class if a two-sided binomial test of the top class's votes against the
runner-up's rejects a tie at level alpha, else an abstention (-1). A returned class differs
from the smoothed classifier's with probability at most alpha. Writes one TSV row per image,
`idx label predict correct time counts` (counts: the votes per class, from which the
prediction is recomputed when the file is read), and OUT.json describing the run.

Each image's noise comes from its own generator, seeded with (seed, idx), as in certify.py."""
import logging
import time

import torch

from linf_smoothing import cli
from linf_smoothing.certificates import ABSTAIN
from linf_smoothing.data import to_float
from linf_smoothing.prediction import predict_from_counts
from linf_smoothing.progress import Progress
from linf_smoothing.results import PredictionWriter
from linf_smoothing.settings import PredictSettings
from linf_smoothing.shards import image_seed, selected_images


def main() -> None:
    parser = cli.argument_parser(__doc__)
    cli.add_smoothing_arguments(parser, PredictSettings, "prediction TSV")
    args = parser.parse_args()
    log = logging.getLogger("predict")

    run = cli.smoothed_classifier(args, PredictSettings)
    settings, smooth, images, labels, device = run.settings, run.smooth, run.images, run.labels, run.device
    indices = selected_images(len(images), settings.skip, settings.max_images)
    log.info("%d images on %s; %s", len(indices), device, settings)
    cli.check_sampling_time(args, run, "predicting", len(indices), settings.n)
    correct = abstained = 0
    start = time.perf_counter()
    with PredictionWriter(args.out, run.description, expected=indices) as writer, \
            Progress("prediction", len(indices), "images", "samples", log, start=writer.done) as progress:
        for count, idx in enumerate(indices[writer.done:], writer.done + 1):
            t0 = time.perf_counter()
            x = to_float(torch.from_numpy(images[idx]).to(device))
            generator = torch.Generator(device=device).manual_seed(image_seed(settings.seed, idx))
            counts = smooth.votes(x, settings.n, generator=generator)
            predicted = int(predict_from_counts(counts, settings.alpha)[0])
            writer.write(idx, int(labels[idx]), predicted, time.perf_counter() - t0, counts)
            correct += predicted == labels[idx]
            abstained += predicted == ABSTAIN
            progress.update(count, (count - writer.done) * settings.n)
    count = max(1, len(indices))
    log.info("done: %d images, accuracy %.4f, %d abstentions, %.2f s/image", len(indices), correct / count,
             abstained, (time.perf_counter() - start) / count)


if __name__ == "__main__":
    cli.run(main)

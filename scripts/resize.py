#!/usr/bin/env python
"""Resize a dataset's train and test splits once to SIZE x SIZE (bilinear, as PIL) and store
them as uint8 arrays (.npz with `images` N x C x SIZE x SIZE and `labels`), each with its
description (OUT.json: dataset, split, size, image count, SHA-256)."""
import logging
import time

from linf_smoothing import cli, validators
from linf_smoothing.data import DATASETS, load_split, resize_images, save_split


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="which dataset")
    parser.add_argument("--data-dir", default="data", help="holds cifar10/cifar-10-batches-py (cifar10 only)")
    parser.add_argument("--size", type=validators.image_size, required=True,
                        help="side of the resized images, in pixels")
    parser.add_argument("--train-out", required=True, help="the resized train split (.npz)")
    parser.add_argument("--test-out", required=True, help="the resized test split (.npz)")
    args = parser.parse_args()
    log = logging.getLogger("resize")
    for split, out in (("train", args.train_out), ("test", args.test_out)):
        images, labels = load_split(args.dataset, split, args.data_dir)
        start = time.perf_counter()
        resized = resize_images(images, args.size)
        seconds = time.perf_counter() - start
        save_split(out, resized, labels, args.dataset, split)
        log.info("%s %s: %d images %s -> %s in %.2f s (%.0f images/s) -> %s", args.dataset, split, len(images),
                 "x".join(map(str, images.shape[1:])), "x".join(map(str, resized.shape[1:])), seconds,
                 len(images) / max(seconds, 1e-9), out)


if __name__ == "__main__":
    cli.run(main)

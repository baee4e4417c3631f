#!/usr/bin/env python
"""Dataset resize rate (images/s): our batched resize against torchvision's Resize applied
to one PIL image at a time, as the original does on the fly every epoch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from linf_smoothing.cli import argument_parser
from linf_smoothing.data import resize_images
from measure import interleaved_rates, machine, report


def main(argv=None) -> list[dict]:
    parser = argument_parser(__doc__)
    parser.add_argument("--images", type=int, default=5000, help="images resized per round")
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 64], help="target sizes in pixels")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds; each rate is the median over them")
    parser.add_argument("--out", type=Path, default=Path("results/speed/resize_rate.csv"), help="CSV of the rates")
    args = parser.parse_args(argv)
    images = np.random.default_rng(0).integers(0, 256, (args.images, 3, 32, 32), dtype=np.uint8)
    pil = [Image.fromarray(im.transpose(1, 2, 0)) for im in images]
    rows = []
    for size in args.sizes:
        resize = transforms.Resize(size)
        rates = interleaved_rates({"ours": lambda: resize_images(images, size),
                                   "pil": lambda: [resize(im) for im in pil]}, args.images, args.rounds,
                                  torch.device("cpu"))
        rows.append({"size": size, "images": args.images, "device": machine(torch.device("cpu")),
                     "ours_images_per_s": round(rates["ours"]), "pil_images_per_s": round(rates["pil"]),
                     "ours_vs_pil": rates["ours"] / rates["pil"]})
    return report(rows, args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""How the order of tied selection counts changes the certificates of certification files.

Ours breaks ties in the selection counts towards the lowest class index (a stable sort); the
original takes the top two classes with torch.topk, whose order among equal counts torch
leaves unspecified. For each file (ours, with the per-class counts) this prints how many
images have a tie for the top class or the runner-up, and, against torch.topk's order on this
machine and against ties to the highest index, on how many images the chosen classes, the
radius and the abstention differ, and the natural and certified accuracy at --threshold of
each certificate. docs/differences.md quotes it on the demo:

    python scripts/tie_order.py results/demo/certify/size8.tsv results/demo/certify/size12.tsv \\
        results/demo/certify/size16.tsv
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from linf_smoothing import cli, validators
from linf_smoothing.certificates import ABSTAIN, VARIANTS, certify_counts, parse_counts
from linf_smoothing.noises import Noise, noise_from_description
from linf_smoothing.results import load_certification


def lowest_first(selection: np.ndarray) -> tuple[int, int]:
    order = np.argsort(-selection, kind="stable")
    return int(order[0]), int(order[1])


def torch_topk(selection: np.ndarray) -> tuple[int, int]:
    first, second = torch.topk(torch.as_tensor(selection), 2).indices.tolist()
    return first, second


def highest_first(selection: np.ndarray) -> tuple[int, int]:
    first, second = lowest_first(selection[::-1])
    return len(selection) - 1 - first, len(selection) - 1 - second


ORDERS = {"torch.topk": torch_topk, "highest index": highest_first}


def certify_choosing(pair: tuple[int, int], selection: np.ndarray, estimation: np.ndarray, sigma: float,
                     alpha: float, variant: str, dimension: int, noise: Noise | None = None):
    """The certificate whose selection's top two are ``pair`` (a top two of ``selection``, with
    ties broken otherwise than ours): the classes are reordered so that ours, which takes the
    lowest index among ties, takes ``pair``, and the predicted class is mapped back."""
    order = list(pair) + [c for c in range(len(selection)) if c not in pair]
    certificate = certify_counts(selection[order], estimation[order], sigma, alpha, variant, dimension, noise)
    if certificate.predict == ABSTAIN:
        return certificate
    return dataclasses.replace(certificate, predict=order[certificate.predict])


def accuracies(certificates, labels, threshold) -> str:
    natural = np.mean([c.predict == y for c, y in zip(certificates, labels)])
    certified = np.mean([c.predict == y and c.radius_linf >= threshold for c, y in zip(certificates, labels)])
    return f"{100 * natural:.2f}% / {100 * certified:.2f}%"


def compare(path: Path, threshold: float, variants: list[str]) -> None:
    frame, description = load_certification(path)
    if description is None or "selection_counts" not in frame:
        raise SystemExit(f"{path}: not one of this project's certification files (no counts)")
    sigma, alpha, dimension = description["sigma"], description["alpha"], description["dimension"]
    noise = noise_from_description(description, sigma, dimension)
    selections = [parse_counts(field) for field in frame["selection_counts"]]
    estimations = [parse_counts(field) for field in frame["estimation_counts"]]
    labels = frame["label"].to_numpy()
    top_ties = sum(int(np.sum(s == s.max()) > 1) for s in selections)
    runner_up_ties = sum(int(np.sum(s == np.sort(s)[-2]) > 1) for s in selections)
    print(f"{path}: {len(frame)} images; a tie for the top class in {top_ties}, for the runner-up in "
          f"{runner_up_ties} ({100 * runner_up_ties / len(frame):.1f}%)")
    ours = {v: [certify_counts(s, e, sigma, alpha, v, dimension, noise) for s, e in zip(selections, estimations)]
            for v in variants}
    ours_pairs = [lowest_first(s) for s in selections]
    for name, order in ORDERS.items():
        pairs = [order(s) for s in selections]
        top = sum(int(a[0] != b[0]) for a, b in zip(pairs, ours_pairs))
        runner_up = sum(int(a[1] != b[1]) for a, b in zip(pairs, ours_pairs))
        print(f"  ties by {name}: the top class differs on {top} of the images, the runner-up on {runner_up} "
              f"({100 * runner_up / len(frame):.1f}%)")
        for variant in variants:
            theirs = [certify_choosing(pair, s, e, sigma, alpha, variant, dimension, noise)
                      for s, e, pair in zip(selections, estimations, pairs)]
            radius = sum(int(a.radius_linf != b.radius_linf) for a, b in zip(ours[variant], theirs))
            flips = sum(int((a.predict == ABSTAIN) != (b.predict == ABSTAIN)) for a, b in zip(ours[variant], theirs))
            status = sum(int((a.radius_linf >= threshold) != (b.radius_linf >= threshold))
                         for a, b in zip(ours[variant], theirs))
            print(f"    {variant}: radius differs on {radius}, abstention on {flips}, certified at the "
                  f"threshold on {status}; natural / certified accuracy {accuracies(ours[variant], labels, threshold)}"
                  f" (ours) against {accuracies(theirs, labels, threshold)}")


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="certification TSVs of this project (with counts)")
    parser.add_argument("--threshold", type=validators.positive_finite, default=2 / 255,
                        help="l-inf radius of the certified accuracy")
    parser.add_argument("--variants", nargs="+", default=["blum", "sound_top2"], choices=VARIANTS,
                        help="certificates to compare")
    args = parser.parse_args()
    for path in args.files:
        compare(path, args.threshold, args.variants)


if __name__ == "__main__":
    cli.run(main)

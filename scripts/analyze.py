#!/usr/bin/env python
"""Turn certification files into the paper's table and figures.

    python scripts/analyze.py size32=results/certify/size32.tsv size48=... --outdir results/analysis

Reads our TSVs and the original's or Cohen et al.'s six-column files. Writes to OUTDIR:
  benchmark.{csv,md,tex}          each run on all its images, then the paper's published rows
  certified_at_radii.{csv,md}     certified accuracy of each run at --grid-radii
  vary_dim.{png,pdf}              certified accuracy against l-inf radius (images with
                                  idx % FIGURE_SKIP == 0), 2/255 and the ceiling marked
  certified_l2.{png,pdf}          the same against l2 radius          (needs --noise)
  certified_normalized.{png,pdf}  the same against radius*sqrt(d)/sigma (needs --noise)
--only limits the output to one group."""
import argparse
from pathlib import Path

import numpy as np

from linf_smoothing import cli
from linf_smoothing.analysis import (benchmark_table, curve_figure, every_nth, radius_grid_table, vary_dim_figure,
                                     with_scaled_radii, write_radius_grid, write_tables)
from linf_smoothing.bounds import max_certifiable_radius
from linf_smoothing.results import read_certification

OUTPUTS = ("table", "grid", "vary_dim", "radius_figures")


def noise(text: str) -> tuple[str, tuple[float, int]]:
    label, value = cli.labelled(text)
    sigma, sep, dimension = value.partition(":")
    try:
        return label, (float(sigma), int(dimension))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LABEL=SIGMA:DIMENSION, got {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--only", choices=OUTPUTS, help="write only this group of outputs")
    parser.add_argument("--threshold", type=float, default=2 / 255, help="l-inf radius of the table (2/255)")
    parser.add_argument("--grid-radii", type=float, nargs="+", default=[0.0, 0.002, 0.004, 0.006, 2 / 255, 0.008])
    parser.add_argument("--radius-max", type=float, default=0.01, help="x range of the vary-dim figure")
    parser.add_argument("--radius-points", type=int, default=201)
    parser.add_argument("--figure-skip", type=int, default=20, help="figures use images with idx %% skip == 0")
    parser.add_argument("--noise", type=noise, nargs="*", default=[], metavar="LABEL=SIGMA:DIM",
                        help="each run's sigma and input dimension d (for the l2 and normalized figures and "
                             "the ceilings)")
    parser.add_argument("--n", type=int, help="samples N of the certification (marks the largest certifiable radius)")
    parser.add_argument("--alpha", type=float, help="failure probability of the certification")
    parser.add_argument("--reference", type=cli.labelled, nargs="*", default=[], metavar="LABEL=PATH",
                        help="certification files drawn dashed beside ours, e.g. the original's")
    parser.add_argument("--title", default="CIFAR-10, ResNet110")
    args = parser.parse_args()

    runs = {label: read_certification(path) for label, path in args.runs}
    noise_of = dict(args.noise)
    wanted = set(OUTPUTS) if args.only is None else {args.only}
    written = []
    if "table" in wanted:
        written += write_tables(benchmark_table(runs, args.threshold), args.outdir, args.threshold)
    if "grid" in wanted:
        written += write_radius_grid(radius_grid_table(runs, args.grid_radii), args.outdir)

    subsets = {label: every_nth(frame, args.figure_skip) for label, frame in runs.items()}
    reference = {label: every_nth(read_certification(path), args.figure_skip) for label, path in args.reference}
    ceilings = {}
    if args.n and args.alpha:
        ceilings = {label: max_certifiable_radius(sigma, args.n, args.alpha, d) for label, (sigma, d) in noise_of.items()}
    if "vary_dim" in wanted:
        radii = np.linspace(0.0, args.radius_max, args.radius_points)
        paths = [args.outdir / "vary_dim.png", args.outdir / "vary_dim.pdf"]
        vary_dim_figure(subsets, radii, args.threshold, list(ceilings.values()), args.title, paths, reference)
        written += paths
    if "radius_figures" in wanted:
        missing = [label for label in runs if label not in noise_of]
        if missing:
            raise ValueError(f"--noise LABEL=SIGMA:DIM is needed for {', '.join(missing)} (l2 and normalized figures)")
        scaled = {label: with_scaled_radii(frame, *noise_of[label]) for label, frame in subsets.items()}
        # x ranges: a little past the largest ceiling (or the largest radius, without N and alpha)
        ceilings_l2 = {label: c * np.sqrt(noise_of[label][1]) for label, c in ceilings.items()}
        top_l2 = 1.1 * max(ceilings_l2.values() or [f["radius_l2"].max() for f in scaled.values()])
        top_normalized = 1.1 * max([c / noise_of[label][0] for label, c in ceilings_l2.items()] or
                                   [f["radius_over_sigma"].max() for f in scaled.values()])
        for column, top, name, xlabel in (
                ("radius_l2", top_l2, "certified_l2", r"$\ell_2$ radius"),
                ("radius_over_sigma", top_normalized, "certified_normalized",
                 r"$\ell_\infty$ radius $\times \sqrt{d} / \sigma$ (= $\ell_2$ radius / $\sigma$)")):
            paths = [args.outdir / f"{name}.png", args.outdir / f"{name}.pdf"]
            curve_figure(scaled, np.linspace(0.0, top, args.radius_points), column, xlabel, args.title, paths)
            written += paths
    print("\n".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)

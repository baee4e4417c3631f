#!/usr/bin/env python
"""Turn certification files into the benchmark table and the vary-dim figure.

    python scripts/analyze.py size32=results/certify/size32.tsv size48=... --outdir results/analysis

Reads our TSVs and the original's or Cohen et al.'s six-column files. Writes
OUTDIR/benchmark.{csv,md,tex} (each run on all its images, then the paper's published rows)
and OUTDIR/vary_dim.{png,pdf} (certified accuracy against l-inf radius on the images with
idx % FIGURE_SKIP == 0)."""
import argparse
from pathlib import Path

import numpy as np

from linf_smoothing import cli
from linf_smoothing.analysis import benchmark_table, every_nth, vary_dim_figure, write_tables
from linf_smoothing.results import read_certification


def labelled_path(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=labelled_path, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--only", choices=["table", "figure"], help="write only the table or only the figure")
    parser.add_argument("--threshold", type=float, default=2 / 255, help="l-inf radius of the table (2/255)")
    parser.add_argument("--radius-max", type=float, default=0.01, help="figure x range")
    parser.add_argument("--radius-points", type=int, default=201)
    parser.add_argument("--figure-skip", type=int, default=20, help="figure uses images with idx %% skip == 0")
    parser.add_argument("--ceiling", type=float, nargs="*", default=[],
                        help="largest certifiable l-inf radius (or radii) to mark on the figure")
    parser.add_argument("--title", default="CIFAR-10, ResNet110")
    args = parser.parse_args()

    runs = {label: read_certification(path) for label, path in args.runs}
    if args.only in (None, "table"):
        table = benchmark_table(runs, args.threshold)
        for path in write_tables(table, args.outdir, args.threshold):
            print(path)
        print(table.to_string(index=False))
    if args.only in (None, "figure"):
        radii = np.linspace(0.0, args.radius_max, args.radius_points)
        subsets = {label: every_nth(frame, args.figure_skip) for label, frame in runs.items()}
        paths = [args.outdir / "vary_dim.png", args.outdir / "vary_dim.pdf"]
        vary_dim_figure(subsets, radii, args.threshold, args.ceiling, args.title, paths)
        print("\n".join(map(str, paths)))


if __name__ == "__main__":
    cli.run(main)

#!/usr/bin/env python
"""Plot per-epoch training curves (loss; accuracy on noisy train and test images and on
clean test images) from the metrics tables that train.py writes.

    python scripts/plot_training.py size32=results/models/size32/epochs.tsv ... --outdir results/figures
"""
import argparse
from pathlib import Path

import pandas as pd

from linf_smoothing import cli
from linf_smoothing.analysis import training_figure
from linf_smoothing.training import METRIC_COLUMNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--title", default="Training (TRADES + Gaussian noise)")
    args = parser.parse_args()
    histories = {}
    for label, path in args.runs:
        history = pd.read_csv(path, sep="\t")
        missing = set(METRIC_COLUMNS) - set(history.columns)
        if missing:
            raise ValueError(f"{path} is not a metrics table of train.py: columns {sorted(missing)} are missing")
        histories[label] = history
    paths = [args.outdir / "training_curves.png", args.outdir / "training_curves.pdf"]
    training_figure(histories, args.title, paths)
    print("\n".join(map(str, paths)))


if __name__ == "__main__":
    cli.run(main)

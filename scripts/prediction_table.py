#!/usr/bin/env python
"""The accuracy table of Cohen et al.'s PREDICT from the prediction files of predict.py:

    python scripts/prediction_table.py size8=results/demo/predict/size8.tsv ... --outdir results/demo/tables

writes predict.csv (fractions), predict.md and predict.html (percent): images, accuracy, abstentions per run."""
import argparse
from pathlib import Path

from linf_smoothing import cli
from linf_smoothing.analysis import prediction_table, write_prediction_table
from linf_smoothing.results import read_predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path)
    args = parser.parse_args()
    table = prediction_table({label: read_predictions(path) for label, path in args.runs})
    print("\n".join(map(str, write_prediction_table(table, args.outdir))))


if __name__ == "__main__":
    cli.run(main)

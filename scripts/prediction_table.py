#!/usr/bin/env python
"""The accuracy table of Cohen et al.'s PREDICT from the prediction files of predict.py:

    python scripts/prediction_table.py size8=results/demo/predict/size8.tsv ... --outdir results/demo/tables

writes predict.csv (fractions), predict.md and predict.html (percent): images, accuracy, abstentions
per run. Each file is checked against its description first (its images, its digest, its labels,
each prediction recomputed from its votes)."""
from pathlib import Path

from linf_smoothing import cli
from linf_smoothing.analysis import prediction_table, write_prediction_table
from linf_smoothing.results import load_predictions


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH",
                        help="prediction TSVs of predict.py, each with its label in the table")
    parser.add_argument("--outdir", required=True, type=Path, help="folder of the table")
    args = parser.parse_args()
    table = prediction_table({label: load_predictions(path)[0] for label, path in args.runs})
    print("\n".join(map(str, write_prediction_table(table, args.outdir))))


if __name__ == "__main__":
    cli.run(main)

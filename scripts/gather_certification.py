#!/usr/bin/env python
"""Join an experiment's certification shards (certify.py --shard I --shards K, given in shard
order) into one TSV, with the rows an unsharded run writes, and log its accuracy. Each shard is
checked against its description first (its images, its counts, its certificates)."""
import logging

from linf_smoothing import cli, validators
from linf_smoothing.analysis import summarize
from linf_smoothing.gathering import gather_certifications
from linf_smoothing.results import load_certification


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("shards", nargs="+", help="shard TSVs, in shard order")
    parser.add_argument("--threshold", type=validators.positive_finite, default=2 / 255,
                        help="l-inf radius whose certified accuracy the log reports (only the log)")
    parser.add_argument("--out", required=True, help="the experiment's certification TSV")
    args = parser.parse_args()

    rows = gather_certifications(args.shards, args.out)
    summary = summarize(args.out, load_certification(args.out)[0], args.threshold) if rows else None
    logging.getLogger("gather").info(
        "done: %d shards, %d images, %s", len(args.shards), rows,
        "no images" if summary is None else
        f"{summary['abstentions']} abstentions, smoothed accuracy {summary['natural_accuracy']:.4f}, "
        f"certified accuracy {summary['certified_accuracy']:.4f} at l-inf {args.threshold:.6f}")


if __name__ == "__main__":
    cli.run(main)

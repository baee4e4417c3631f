#!/usr/bin/env python
"""Wall time of `snakemake -n all` on the paper's configuration (parse, validate, plan the DAG),
median of a few runs, in a scratch working directory so existing results do not matter."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from linf_smoothing.cli import argument_parser
from measure import write_csv

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> list[dict]:
    parser = argument_parser(__doc__)
    parser.add_argument("--runs", type=int, default=3, help="dry runs; the median is reported")
    parser.add_argument("--out", type=Path, default=Path("results/speed/dryrun_time.csv"), help="CSV of the times")
    args = parser.parse_args(argv)
    seconds = []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", workdir,
                            "-n", "-q", "all"], check=True, capture_output=True)
            seconds.append(time.perf_counter() - start)
    rows = [{"runs": args.runs, "median_seconds": statistics.median(seconds), "min_seconds": min(seconds)}]
    print(f"wrote {write_csv(rows, args.out)}")
    print(f"dryrun_seconds={rows[0]['median_seconds']:.2f}")
    return rows


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Run every benchmark and print, as the last line, key=value pairs of the headline ratios:
certify_vs_reference, certify_vs_forward (ResNet-110 at 32x32), train_vs_reference,
each training method's METHOD_vs_authors (its authors' loop structure) and
METHOD_cost_vs_gaussian, resize_vs_pil, dryrun_seconds. Each benchmark also writes a CSV under --outdir.

    python benchmarks/run_all.py --quick     # a few minutes on a 2-core CPU
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import certify_throughput  # noqa: E402
import dryrun_time  # noqa: E402
import resize_rate  # noqa: E402
import train_methods  # noqa: E402
import train_throughput  # noqa: E402

from linf_smoothing.cli import argument_parser  # noqa: E402


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller workloads")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cuda or cpu")
    parser.add_argument("--outdir", type=Path, default=Path("results/speed"), help="folder of the CSVs")
    args = parser.parse_args()
    rounds = ["--rounds", "3" if args.quick else "5"]
    device = ["--device", args.device]
    certify = certify_throughput.main(["--batches", "2" if args.quick else "8", *rounds, *device,
                                       "--out", str(args.outdir / "certify_throughput.csv")])
    train = train_throughput.main(["--batches", "1" if args.quick else "4", *rounds, *device,
                                   "--out", str(args.outdir / "train_throughput.csv")])
    methods = train_methods.main(["--batches", "1" if args.quick else "2", *rounds, *device,
                                  "--out", str(args.outdir / "train_methods.csv")])
    resize = resize_rate.main(["--images", "2000" if args.quick else "10000", *rounds,
                               "--out", str(args.outdir / "resize_rate.csv")])
    dryrun = dryrun_time.main(["--runs", "3", "--out", str(args.outdir / "dryrun_time.csv")])
    by_model = {row["model"]: row for row in certify}
    trained = {row["model"]: row for row in train}
    summary = {
        "machine": by_model["resnet110"]["device"].replace(" ", "_").replace(",", ""),
        "certify_vs_reference": by_model["resnet110"]["ours_vs_reference"],
        "certify_vs_forward": by_model["resnet110"]["ours_vs_forward"],
        "certify_samples_per_s": by_model["resnet110"]["ours_samples_per_s"],
        "certify_agreement": by_model["resnet110"]["agreement_with_plain_fp32"],
        "certify_small_vs_reference": by_model["resnet20"]["ours_vs_reference"],
        "certify_small_vs_forward": by_model["resnet20"]["ours_vs_forward"],
        "train_vs_reference": trained["resnet110"]["ours_vs_reference"],
        "train_small_vs_reference": trained["resnet20"]["ours_vs_reference"],
        **{f"{row['method']}_vs_authors": row["ours_vs_authors_structure"] for row in methods
           if row["ours_vs_authors_structure"] != ""},
        **{f"{row['method']}_cost_vs_gaussian": row["cost_vs_gaussian"] for row in methods
           if row["method"] != "gaussian"},
        "resize_vs_pil": min(row["ours_vs_pil"] for row in resize),
        "dryrun_seconds": dryrun[0]["median_seconds"],
    }
    if "bf16_agreement_with_fp32" in by_model["resnet110"]:
        summary["certify_bf16_agreement"] = by_model["resnet110"]["bf16_agreement_with_fp32"]
        summary["certify_bf16_samples_per_s"] = by_model["resnet110"]["ours_bf16_samples_per_s"]
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Write a provenance record (JSON) of a workflow run: the effective configuration, the git
commit of this checkout and whether its tree was dirty, package versions, device and hardware, and the wall
time of each stage (from Snakemake's benchmark files)."""
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from linf_smoothing import cli
from linf_smoothing.results import atomic_path

# The checkout that ran the workflow: this script's (found here, not passed by the rule, so
# that the rule's parameters hold no absolute path and a moved folder reruns nothing).
REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGES = ["torch", "torchvision", "snakemake", "numpy", "scipy", "statsmodels", "pandas", "matplotlib",
            "seaborn", "scikit-learn", "linf-smoothing"]


def git(repository: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def package_versions() -> dict[str, str | None]:
    """Installed versions; None for a package without metadata (the conda environment of
    --software-deployment-method conda holds neither snakemake nor this project's package,
    whose version then comes from the code itself)."""
    import linf_smoothing

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = linf_smoothing.__version__ if name == "linf-smoothing" else None
    return versions


def stage_times(benchmarks: Path) -> dict:
    """Seconds per rule (summed over its jobs) and per job, from benchmark TSVs."""
    stages = {}
    for path in sorted(Path(benchmarks).glob("*/**/*.tsv")):
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        rule, *job = path.relative_to(benchmarks).with_suffix("").parts
        stage = stages.setdefault(rule, {"seconds": 0.0, "jobs": {}})
        stage["seconds"] += seconds
        stage["jobs"]["/".join(job)] = seconds
    return stages


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--config", required=True, help="the effective configuration, as JSON")
    parser.add_argument("--benchmarks", required=True, type=Path, help="Snakemake's benchmark folder")
    parser.add_argument("--out", required=True, type=Path, help="the provenance record to write (JSON)")
    args = parser.parse_args()
    status = git(REPOSITORY, "status", "--porcelain")
    record = {
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": json.loads(args.config),
        "git": {"commit": git(REPOSITORY, "rev-parse", "HEAD"),
                "dirty": None if status is None else bool(status)},
        "packages": package_versions(),
        "python": platform.python_version(),
        "device": {"cuda_available": torch.cuda.is_available(),
                   "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                   "torch_cuda": torch.version.cuda},
        "hardware": {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
                     "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
                     "system": platform.platform()},
        "stages": stage_times(args.benchmarks),
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.out}: commit {record['git']['commit']} (dirty: {record['git']['dirty']}), "
          f"{sum(s['seconds'] for s in record['stages'].values()):.0f} s of jobs")


if __name__ == "__main__":
    cli.run(main)

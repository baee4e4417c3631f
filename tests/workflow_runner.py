"""The integration tests' tiny configuration of the workflow, a runner for it, and a parser
of dry runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]

TINY = {
    "dataset": "digits", "results_dir": "results", "device": "cpu",
    "training": {"architecture": {"depth": 8, "widths": [4, 8, 8]}, "epochs": 2, "batch_size": 128,
                 "lr_milestones": [1], "crop_padding": 1},
    "certify": {"n0": 20, "n": 100, "alpha": 0.01, "batch_size": 120, "compile": False, "shards": 1},
    "experiments": [
        {"name": "tiny8", "image_size": 8, "sigma": 0.25, "epsilon": 0.0627, "beta": 6.0, "attack_steps": 1,
         "skip": 3, "max_images": 30, "shards": 2},
        {"name": "tiny12", "image_size": 12, "sigma": 0.375, "epsilon": 0.0941, "beta": 6.0, "attack_steps": 1,
         "skip": 3, "max_images": 30},
    ],
    "analysis": {"radius_max": 0.1, "figure_skip": 1, "figure_title": "tiny", "reference_curves": [],
                 "grid_radii": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]},
}


def snakemake(workdir: Path, *args: str, overlay: dict | None = None, check: bool = True,
              executor: tuple[str, ...] = ("--cores", "2"), env: dict | None = None, timeout: float | None = None):
    """Run the workflow in ``workdir`` on the tiny configuration (or ``overlay``), locally unless
    ``executor`` says otherwise."""
    config = workdir / "overlay.yaml"
    config.write_text(yaml.safe_dump(TINY if overlay is None else overlay))
    result = subprocess.run([*SNAKEMAKE, "-d", str(workdir), "--configfile", str(config), *executor, *args],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(result) -> list[tuple[str, str]]:
    """(rule, experiment or '', with '/shard' for a certify job) for each job a dry run plans,
    'all' left out."""
    jobs = []
    for block in re.split(r"\n(?=\[|rule |localrule )", result.stdout):
        match = re.match(r"(?:\[.*\]\n)?(?:local)?rule (\w+):", block)
        if match and match.group(1) != "all":
            exp = re.search(r"wildcards: .*?exp=([\w.-]+)", block)
            shard = re.search(r"wildcards: .*?shard=(\d+)", block)
            jobs.append((match.group(1), (exp.group(1) if exp else "") + (f"/{shard.group(1)}" if shard else "")))
    return sorted(jobs)

"""The integration tests' tiny configuration of the workflow, a runner for it, dry runs of
the checkout's configurations, and a parser of dry runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]

TINY_CONFIG = ROOT / "tests" / "config" / "tiny.yaml"
TINY = yaml.safe_load(TINY_CONFIG.read_text())


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


def dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """``snakemake -n -p all`` in ``workdir`` on config.yaml and what ``args`` add (a profile,
    overlays), which must plan without error."""
    # From the checkout: a profile's `configfiles:` are relative to the working directory.
    result = subprocess.run([*SNAKEMAKE, "-d", str(workdir), "-n", "-p", "all", *args], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
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

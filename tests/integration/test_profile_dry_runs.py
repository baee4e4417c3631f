"""Dry runs of the profiles: an overlay given on the command line lies on top of the profile's,
and the README's counts of planned jobs are the dry runs'."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT, load_yaml
from workflow_runner import dry_run, planned_jobs

pytestmark = pytest.mark.integration

README = " ".join((ROOT / "README.md").read_text().split())  # one space between words


def stated_jobs(pattern: str) -> int:
    """The count of planned jobs the README states, in the sentence ``pattern`` matches."""
    match = re.search(pattern, README)
    assert match, f"the README no longer says {pattern!r}"
    return int(match.group(1))


def test_an_overlay_on_the_demo_profile_changes_only_its_keys(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"certify": {"n": 500}}))
    result = dry_run(tmp_path / "run", "--profile", str(ROOT / "profiles" / "demo"), "--configfile", str(overlay))
    jobs = planned_jobs(result)
    assert "Configuration: config.yaml, profiles/demo/demo.yaml (profile), " in result.stderr + result.stdout
    assert sorted({exp.split("/")[0] for _, exp in jobs} - {""}) == ["size12", "size16", "size8"]
    assert "download_cifar10" not in {rule for rule, _ in jobs}
    certify = [line for line in result.stdout.splitlines() if "scripts/certify.py" in line]
    assert len(certify) == 6 and all(" --n 500 " in line and "results/demo/" in line for line in certify)
    assert len(jobs) + 1 == stated_jobs(r"The demo plans (\d+) jobs")


def test_the_readmes_job_counts_are_the_dry_runs(tmp_path, paper_dry_run):
    paper = planned_jobs(paper_dry_run)
    assert len(paper) + 1 == stated_jobs(r"`snakemake all` with `config.yaml` plans (\d+) jobs")
    baseline = planned_jobs(dry_run(tmp_path / "baseline", "--profile", str(ROOT / "profiles" / "baseline")))
    assert len(baseline) + 1 == stated_jobs(r"The baseline profile plans (\d+) jobs")
    methods = planned_jobs(dry_run(tmp_path / "methods", "--profile", str(ROOT / "profiles" / "methods")))
    assert len(methods) + 1 == stated_jobs(r"where it trains all 18 models; (\d+) jobs")
    comparison = planned_jobs(dry_run(tmp_path / "comparison", "--profile", str(ROOT / "profiles" / "comparison")))
    assert len(comparison) + 1 == stated_jobs(r"--profile profiles/comparison # (\d+) jobs")
    assert len(comparison) + 1 == stated_jobs(r"The dry run plans (\d+) jobs: one download")


def test_the_released_profiles_job_count_is_the_dry_runs(tmp_path):
    workdir = tmp_path / "released"
    for exp in load_yaml(ROOT / "profiles" / "released" / "released.yaml")["experiments"]:
        (workdir / exp["checkpoint"]["path"]).parent.mkdir(parents=True, exist_ok=True)
        (workdir / exp["checkpoint"]["path"]).touch()
    released = planned_jobs(dry_run(workdir, "--profile", str(ROOT / "profiles" / "released")))
    assert [rule for rule, _ in released].count("import_checkpoint") == 3
    assert len(released) + 1 == stated_jobs(r"--profile profiles/released # (\d+) jobs")


def test_a_run_that_drops_the_folders_experiments_says_so(tmp_path):
    """The demo after the baseline in one folder (here: the paper's run after a record with one
    more experiment) warns before any job that the tables lose that experiment's rows."""
    record = tmp_path / "results" / "provenance.json"
    record.parent.mkdir(parents=True)
    experiments = [{"name": name} for name in ("size32", "size48", "size64", "gaussian32")]
    record.write_text(json.dumps({"config": {"experiments": experiments}}))
    result = dry_run(tmp_path)
    assert ("results/provenance.json lists experiments this configuration lacks (gaussian32)"
            in result.stdout + result.stderr)

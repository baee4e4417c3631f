"""Dry runs of the profiles: an overlay given on the command line lies on top of the profile's,
and the counts of planned jobs that the README's profiles table and the docs state are the dry runs'."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT, load_yaml
from workflow_runner import dry_run, planned_jobs

pytestmark = pytest.mark.integration

PROFILES = ROOT / "profiles"
# Profiles that run no experiments of their own: local defaults and SLURM settings.
SETTINGS_ONLY = {"default", "slurm", "cluster-example"}


def profiles_table() -> dict[str, int]:
    """The jobs column of the README's profiles table, by profile (``paper``: config.yaml alone)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| profile |"))
    columns = [cell.strip() for cell in lines[header].strip("|").split("|")]
    jobs = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        row = dict(zip(columns, (cell.strip() for cell in line.strip("|").split("|"))))
        name = re.fullmatch(r"`([\w-]+)`", row["profile"])
        jobs[name.group(1) if name else "paper"] = int(row["jobs"])
    return jobs


TABLE = profiles_table()


def stated_jobs(pattern: str, page: str) -> int:
    """The count of planned jobs that docs/``page`` states, in the sentence ``pattern`` matches."""
    text = " ".join((ROOT / "docs" / page).read_text().split())  # one space between words
    match = re.search(pattern, text)
    assert match, f"docs/{page} no longer says {pattern!r}"
    return int(match.group(1))


def test_the_profiles_table_lists_every_profile_and_the_papers_run():
    runs = {path.name for path in PROFILES.iterdir() if path.is_dir()} - SETTINGS_ONLY
    assert set(TABLE) == runs | {"paper"}


def test_an_overlay_on_the_demo_profile_changes_only_its_keys(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"certify": {"n": 500}}))
    result = dry_run(tmp_path / "run", "--profile", str(ROOT / "profiles" / "demo"), "--configfile", str(overlay))
    jobs = planned_jobs(result)
    assert "Configuration: config.yaml, profiles/demo/demo.yaml (profile), " in result.stderr + result.stdout
    assert sorted({exp.split("/")[0] for _, exp in jobs} - {""}) == ["size12", "size16", "size8"]
    assert "download_cifar10" not in {rule for rule, _ in jobs}
    assert not {"noises_table", "noises_figures"} & {rule for rule, _ in jobs}  # one noise: no noise comparison
    certify = [line for line in result.stdout.splitlines() if "scripts/certify.py" in line]
    assert len(certify) == 6 and all(" --n 500 " in line and "results/demo/" in line for line in certify)
    assert len(jobs) + 1 == TABLE["demo"]


def test_the_stated_job_counts_are_the_dry_runs(tmp_path, paper_dry_run):
    paper = planned_jobs(paper_dry_run)
    assert len(paper) + 1 == TABLE["paper"]
    assert len(paper) + 1 == stated_jobs(r"`snakemake all` with `config.yaml` plans (\d+) jobs", "operations.md")
    baseline = planned_jobs(dry_run(tmp_path / "baseline", "--profile", str(PROFILES / "baseline")))
    assert len(baseline) + 1 == TABLE["baseline"]
    methods = planned_jobs(dry_run(tmp_path / "methods", "--profile", str(PROFILES / "methods")))
    assert len(methods) + 1 == TABLE["methods"]
    assert len(methods) + 1 == stated_jobs(r"where it trains all 18 models; (\d+) jobs", "training-methods.md")
    comparison = planned_jobs(dry_run(tmp_path / "comparison", "--profile", str(PROFILES / "comparison")))
    assert len(comparison) + 1 == TABLE["comparison"]
    assert len(comparison) + 1 == stated_jobs(r"The dry run plans (\d+) jobs: one download", "training-methods.md")


def test_the_noise_profiles_job_counts_are_the_dry_runs(tmp_path):
    """Each trains and certifies 18 models (6 noises at 3 sizes) and writes the noise table and
    figures; the digits profile needs no download."""
    for profile, download in (("noises", 0), ("noises-cifar", 1)):
        jobs = planned_jobs(dry_run(tmp_path / profile, "--profile", str(PROFILES / profile)))
        rules = [rule for rule, _ in jobs]
        assert (rules.count("train"), rules.count("certify"), rules.count("download_cifar10")) == (18, 18, download)
        assert rules.count("noises_table") == rules.count("noises_figures") == 1
        assert len(jobs) + 1 == TABLE[profile]
        assert len(jobs) + 1 == stated_jobs(rf"`profiles/{profile}` plans (\d+) jobs", "noises.md")


def test_the_released_profiles_job_count_is_the_dry_runs(tmp_path):
    workdir = tmp_path / "released"
    for exp in load_yaml(PROFILES / "released" / "released.yaml")["experiments"]:
        (workdir / exp["checkpoint"]["path"]).parent.mkdir(parents=True, exist_ok=True)
        (workdir / exp["checkpoint"]["path"]).touch()
    released = planned_jobs(dry_run(workdir, "--profile", str(PROFILES / "released")))
    assert [rule for rule, _ in released].count("import_checkpoint") == 3
    assert len(released) + 1 == TABLE["released"]


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

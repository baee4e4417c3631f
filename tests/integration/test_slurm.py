"""The tiny workflow on a real single-node SLURM cluster (tests/slurm_cluster.py) through
profiles/slurm and the official executor plugin: every job is an sbatch job, and the
results equal a local run's.

Skipped where Debian's slurmctld, slurmd and munge are missing, unless LINF_REQUIRE_SLURM=1
(as in CI, which installs them), where that is a failure."""
from __future__ import annotations

import collections
import os
import re
import subprocess

import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT
from slurm_cluster import conf_dir_problem, missing_programs, single_node_slurm
from workflow_runner import TINY, snakemake

pytestmark = pytest.mark.integration

# What a user's cluster profile gives beside profiles/slurm, here for the test cluster: its
# partition, no accounting (so squeue for job states, no account), 2-CPU jobs, and fast
# status checks for a short test.
CLUSTER_PROFILE = {
    "default-resources": {"slurm_partition": "debug", "runtime": 10, "mem_mb": 1000},
    "slurm-status-command": "squeue",
    "slurm-no-account": True,
    "slurm-init-seconds-before-status-checks": 1,
    "seconds-between-status-checks": 2,
    "set-threads": {"train": 2, "certify": 2},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_programs()
    problem = f"missing {', '.join(missing)}" if missing else conf_dir_problem()
    if problem:
        message = f"no test SLURM cluster here: {problem} (apt-get install slurmctld slurmd slurm-client munge)"
        if os.environ.get("LINF_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with single_node_slurm(tmp_path_factory.mktemp("slurm")) as env:
        yield env


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm_workflow")
    profile = workdir / "cluster-profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(CLUSTER_PROFILE))
    result = snakemake(workdir, "all", "--verbose", env=cluster, timeout=900,
                       executor=("--workflow-profile", str(ROOT / "profiles" / "slurm"), "--profile", str(profile)))
    jobs = subprocess.run(["scontrol", "show", "job", "--oneliner"], env=cluster, capture_output=True, text=True,
                          check=True).stdout.splitlines()
    return workdir, result, jobs


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's 'Job stats' table, 'all' left out."""
    table = output[output.index("Job stats:"):].split("\n\n")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule not in ("all", "total")}


def test_every_job_is_a_completed_sbatch_job(slurm_run):
    workdir, result, jobs = slurm_run
    output = result.stdout + result.stderr
    planned = job_counts(output)
    assert planned["certify"] == 3 and planned["train"] == 2 and sum(planned.values()) == 17
    sbatch = [line for line in output.splitlines() if line.startswith("sbatch call: ")]
    assert len(sbatch) == sum(planned.values())
    for line in sbatch:
        assert " -p debug " in line
        rule = re.search(r"--comment rule_(\w+?)(?:_wildcards_\S+)? ", line).group(1)
        if rule in ("train", "certify"):
            assert "--gpus=1" in line and "--cpus-per-task=2" in line and "-t 2880" in line
    # The controller's own record: one COMPLETED job per planned job, named by rule.
    ran = collections.Counter(re.search(r"Comment=rule_(\w+?)(?:_wildcards_\S+)?(?: |$)", job).group(1)
                              for job in jobs if "JobState=COMPLETED" in job)
    assert dict(ran) == planned
    assert not [job for job in jobs if "JobState=COMPLETED" not in job]


def test_results_equal_a_local_run(slurm_run, finished):
    workdir = slurm_run[0]
    for exp in (e["name"] for e in TINY["experiments"]):
        here, there = (torch.load(root / "results" / "models" / exp / "model.pt", weights_only=True)
                       for root in (workdir, finished))
        assert here["metadata"] == there["metadata"]
        for key, value in here["state_dict"].items():
            assert torch.equal(value, there["state_dict"][key]), (exp, key)
        here, there = (pd.read_csv(root / "results" / "certify" / f"{exp}.tsv", sep="\t").drop(columns="time")
                       for root in (workdir, finished))
        pd.testing.assert_frame_equal(here, there)
    for table in ("benchmark.csv", "certified_at_radii.csv"):
        assert (workdir / "results" / "tables" / table).read_text() == \
            (finished / "results" / "tables" / table).read_text()

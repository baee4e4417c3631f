"""Issue 24 in the workflow: a finished model or resized split that is not what its job makes
(another experiment's model with its old mtime kept, the training split under test.npz) is
seen when the run is planned; a dry run lists every job a run would do, and the run sets the
files aside and makes them again, giving the untouched run's table."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workflow_runner import planned_jobs, snakemake

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_swapped_model_and_split_are_set_aside_and_made_again(finished, tmp_path):
    """Guards: common.smk's checked_model (train's input function) and resize_inputs'
    split_damage, and set_aside's dry-run planning (it said "Nothing to be done")."""
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)  # mtimes kept
    results = workdir / "results"
    table = (results / "tables" / "benchmark.csv").read_text()
    model = results / "models" / "tiny8" / "model.pt"
    stat = model.stat()
    shutil.copyfile(results / "models" / "tiny12" / "model.pt", model)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    test_split = results / "data" / "digits" / "size8" / "test.npz"
    shutil.copyfile(test_split.with_name("train.npz"), test_split)
    os.utime(test_split, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    dry = snakemake(workdir, "-n", "all")
    jobs = planned_jobs(dry)
    for job in [("resize", ""), ("train", "tiny8"), ("certify", "tiny8/0"), ("certify", "tiny8/1"),
                ("gather_certification", "tiny8"), ("benchmark_table", "")]:
        assert job in jobs, jobs
    said = dry.stdout + dry.stderr
    assert ("train", "tiny12") not in jobs, said
    assert "model.pt: it was made for 12-pixel images where its experiment's are 8; a run (not a dry run)" in said
    assert "test.npz: it holds 1437x1x8x8 images where the test split of digits at size 8 is 360x1x8x8" in said
    assert model.exists() and not Path(f"{model}.damaged").exists()

    run = snakemake(workdir, "all")
    assert "set aside as results/models/tiny8/model.pt.damaged" in run.stderr
    assert "set aside as results/data/digits/size8/test.npz.damaged" in run.stderr
    assert (results / "tables" / "benchmark.csv").read_text() == table
    again = snakemake(workdir, "-n", "all")
    assert "Nothing to be done" in again.stdout + again.stderr

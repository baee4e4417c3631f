"""Issue 24 in the workflow: a finished model or resized split that is not what its job makes
(another experiment's model with its old mtime kept, the training split under test.npz) is
seen when the run is planned; a dry run lists every job a run would do, and the run sets the
files aside and makes them again, giving the untouched run's table."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from workflow_runner import TINY, planned_jobs, snakemake

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_swapped_model_and_split_are_set_aside_and_made_again(finished, tmp_path_factory):
    """Guards: common.smk's checked_model (train's input function) and resize_inputs'
    split_damage, and set_aside's dry-run planning (it said "Nothing to be done")."""
    # A copy at the finished run's depth, so that the rules' commands (relative paths to the
    # scripts) are the ones that ran; mtimes kept.
    workdir = tmp_path_factory.mktemp("doors")
    workdir.rmdir()
    shutil.copytree(finished, workdir, symlinks=True)
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


def test_an_edited_prediction_file_is_set_aside_and_made_again(finished, tmp_path_factory):
    """Guard: common.smk's checked_predictions (an edited prediction in predict/*.tsv changed
    predict.csv with nothing said)."""
    workdir = tmp_path_factory.mktemp("doors")
    workdir.rmdir()
    shutil.copytree(finished, workdir, symlinks=True)
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["predict"] = {"enabled": True, "n": 100, "alpha": 0.01}
    snakemake(workdir, "all", overlay=overlay)
    table = workdir / "results" / "tables" / "predict.csv"
    before = table.read_text()
    prediction = workdir / "results" / "predict" / "tiny8.tsv"
    lines = prediction.read_text().splitlines(keepends=True)
    fields = lines[1].split("\t")
    fields[3] = str(1 - int(fields[3]))  # correct flipped
    prediction.write_text("".join([lines[0], "\t".join(fields), *lines[2:]]))
    dry = snakemake(workdir, "-n", "all", overlay=overlay)
    assert ("predict", "tiny8") in planned_jobs(dry) and ("prediction_table", "") in planned_jobs(dry)
    run = snakemake(workdir, "all", overlay=overlay)
    assert "tiny8.tsv: its rows are not the ones its description was written for; set aside" in run.stderr
    assert table.read_text() == before

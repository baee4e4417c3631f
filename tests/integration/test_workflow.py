"""The real Snakemake workflow on a tiny configuration, end to end, then its incremental
behaviour checked with dry runs."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, write_cifar10_batches
from workflow_runner import TINY, planned_jobs, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture
def finished(finished, tmp_path_factory):
    """A copy of the session's finished workdir (conftest.py) for each test here: a test deletes,
    cuts or edits files in its copy and reruns it, and none sees another's leftovers."""
    # Beside the original: the jobs' commands hold the relative path from the workdir to the
    # checkout, and Snakemake reruns every job whose command changed. The files keep their times.
    copy = tmp_path_factory.mktemp("workflow")
    shutil.copytree(finished, copy, symlinks=True, dirs_exist_ok=True)
    return copy


def test_outputs_and_their_contents(finished):
    results = finished / "results"
    table = pd.read_csv(results / "tables" / "benchmark.csv")
    runs = table[table["source"] == "run"]
    assert list(runs["label"]) == ["tiny8", "tiny8", "tiny12", "tiny12"] and list(runs["images"]) == [30] * 4
    assert list(runs["certificate"]) == ["blum", "sound_top2"] * 2
    assert (runs["certified_accuracy"] <= runs["natural_accuracy"]).all()
    # The same samples: the sound certificate abstains at least as often as the original's.
    assert (runs["abstentions"].to_numpy()[1::2] >= runs["abstentions"].to_numpy()[::2]).all()
    assert (table["source"] == "published").sum() == 0  # the paper's CIFAR-10 rows only beside CIFAR-10 runs
    for exp in ("tiny8", "tiny12"):
        cert = pd.read_csv(results / "certify" / f"{exp}.tsv", sep="\t")
        assert list(cert.columns[:6]) == ["idx", "label", "predict", "radius", "correct", "time"]
        assert list(cert["idx"]) == list(range(0, 90, 3))
        certified = cert[cert["predict"] >= 0]
        size = 8 if exp == "tiny8" else 12
        np.testing.assert_allclose(certified["radius"], certified["radius_l2"] / size, rtol=1e-12)
        assert [sum(map(int, c.split(","))) for c in cert["estimation_counts"]] == [100] * 30
        description = json.loads((results / "certify" / f"{exp}.tsv.json").read_text())
        assert (description["dataset"], description["image_size"], description["dimension"]) == ("digits", size,
                                                                                                 size * size)
        assert (description["n0"], description["n"], description["alpha"], description["variant"]) == (
            20, 100, 0.01, "blum")
        assert "shard" not in description and description["model_sha256"] == hashlib.sha256(
            (results / "models" / exp / "model.pt").read_bytes()).hexdigest()
        epochs = pd.read_csv(results / "models" / exp / "epochs.tsv", sep="\t")
        assert list(epochs["epoch"]) == [0, 1] and list(epochs["lr"]) == pytest.approx([0.1, 0.01])
        for rule in ("train", "gather_certification"):
            assert (results / "logs" / rule / f"{exp}.log").read_text().strip().splitlines()[-1]
            assert (results / "benchmarks" / rule / f"{exp}.tsv").exists()
    for shard in ("tiny8/0-of-2", "tiny8/1-of-2", "tiny12/0-of-1"):
        assert "done:" in (results / "logs" / "certify" / f"{shard}.log").read_text().splitlines()[-1]
        assert (results / "benchmarks" / "certify" / f"{shard}.tsv").exists()
    for name in ("vary_dim", "certified_l2", "certified_normalized", "training_curves", "methods_linf",
                 "methods_normalized"):
        for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            assert (results / "figures" / f"{name}.{ext}").read_bytes()[:4] == magic
    for table in ("benchmark", "certified_at_radii", "methods"):  # the report's pages, in percent
        assert "%</td>" in (results / "tables" / f"{table}.html").read_text()
    grid = pd.read_csv(results / "tables" / "certified_at_radii.csv", index_col=["label", "certificate"])
    assert list(grid.index) == [(exp, c) for exp in ("tiny8", "tiny12") for c in ("blum", "sound_top2")]
    assert len(grid.columns) == 6
    for exp in ("tiny8", "tiny12"):
        gather_log = (results / "logs" / "gather_certification" / f"{exp}.log").read_text()
        # The table's threshold (the tiny configuration keeps the paper's 2/255), in the gather log.
        assert "certified accuracy" in gather_log.splitlines()[-1] and "at l-inf 0.007843" in gather_log
        assert "done: test accuracy" in (results / "logs" / "train" / f"{exp}.log").read_text().splitlines()[-1]
    record = json.loads((results / "provenance.json").read_text())
    assert record["config"]["experiments"][1]["name"] == "tiny12"
    assert re.fullmatch(r"[0-9a-f]{40}", record["git"]["commit"]) and isinstance(record["git"]["dirty"], bool)
    assert record["packages"]["torch"] == "2.13.0"
    assert {"resize", "train", "certify", "gather_certification", "benchmark_table"} <= set(record["stages"])
    assert set(record["stages"]["certify"]["jobs"]) == {"tiny8/0-of-2", "tiny8/1-of-2", "tiny12/0-of-1"}
    assert record["stages"]["train"]["seconds"] > 0
    assert "\\toprule" in (results / "tables" / "benchmark.tex").read_text()
    assert not list(results.rglob("*.tmp"))


def test_report_holds_every_declared_output(finished):
    snakemake(finished, "--report", "report.html")
    html = (finished / "report.html").read_text()
    assert len(html) > 100_000  # figures and tables are embedded: one self-contained file
    for name in ("vary_dim.png", "certified_l2.png", "certified_normalized.png", "training_curves.png",
                 "methods_linf.png", "benchmark.html", "certified_at_radii.html", "methods.html", "provenance.json"):
        assert name in html, name
    # the categories, which the report's menu lists in alphabetical order: the paper's figure first
    categories = json.loads(re.search(r"categories = (\{.*?\});?\n", html).group(1))
    assert min(categories) == "1. The paper's figure"
    assert [Path(path).name for paths in categories[min(categories)].values() for path in paths] == ["vary_dim.png"]


def test_a_second_run_has_nothing_to_do(finished):
    result = snakemake(finished, "-n", "all")
    assert planned_jobs(result) == []
    assert "Nothing to be done" in result.stdout + result.stderr


def test_gathered_shards_equal_an_unsharded_run(finished, tmp_path):
    results = finished / "results"
    tiny8, certify = TINY["experiments"][0], TINY["certify"]
    unsharded = tmp_path / "unsharded.tsv"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "certify.py"),
                    "--model", str(results / "models" / "tiny8" / "model.pt"),
                    "--test-data", str(results / "data" / "digits" / "size8" / "test.npz"),
                    "--sigma", str(tiny8["sigma"]), "--skip", str(tiny8["skip"]),
                    "--max-images", str(tiny8["max_images"]), "--n0", str(certify["n0"]), "--n", str(certify["n"]),
                    "--alpha", str(certify["alpha"]), "--batch-size", str(certify["batch_size"]),
                    "--device", "cpu", "--out", str(unsharded)],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    gathered = pd.read_csv(results / "certify" / "tiny8.tsv", sep="\t")
    shards = [pd.read_csv(results / "certify" / "shards" / "tiny8" / f"{i}-of-2.tsv", sep="\t") for i in (0, 1)]
    assert [len(shard) for shard in shards] == [15, 15]
    pd.testing.assert_frame_equal(gathered.drop(columns="time"),
                                  pd.read_csv(unsharded, sep="\t").drop(columns="time"))
    described = [json.loads(path.read_text()) for path in (results / "certify" / "tiny8.tsv.json",
                                                          tmp_path / "unsharded.tsv.json")]
    # The same description but for the sharding, the rows' digest (their time columns differ) and
    # where the run found its model and test data (the paths its command line gave; their digests agree).
    located = ("model", "test_data")
    assert {k: v for k, v in described[0].items() if k not in ("shards", "rows_sha256", *located)} == {
        k: v for k, v in described[1].items() if k not in ("shard", "shards", "rows_sha256", *located)}


def test_a_failed_shard_reruns_alone(finished):
    results = finished / "results"
    gathered = results / "certify" / "tiny8.tsv"
    before = pd.read_csv(gathered, sep="\t").drop(columns="time")
    other_shard_mtime = (results / "certify" / "shards" / "tiny8" / "0-of-2.tsv").stat().st_mtime_ns
    # What a failed shard job leaves: Snakemake removes its output, and the gather never ran.
    for path in (results / "certify" / "shards" / "tiny8" / "1-of-2.tsv", gathered):
        path.unlink()
        Path(f"{path}.json").unlink()
    target = str(gathered.relative_to(finished))
    assert planned_jobs(snakemake(finished, "-n", target)) == [("certify", "tiny8/1"),
                                                               ("gather_certification", "tiny8")]
    snakemake(finished, target)
    assert (results / "certify" / "shards" / "tiny8" / "0-of-2.tsv").stat().st_mtime_ns == other_shard_mtime
    pd.testing.assert_frame_equal(pd.read_csv(gathered, sep="\t").drop(columns="time"), before)


FIGURE_JOBS = [("methods_figures", ""), ("radius_figures", ""), ("vary_dim_figure", "")]
ANALYSIS_JOBS = sorted([("benchmark_table", ""), ("methods_table", ""), ("provenance", ""), ("radius_grid_table", ""),
                        *FIGURE_JOBS])


@pytest.mark.parametrize("deleted, rebuilt", [
    ("shards/tiny8/1-of-2.tsv", [("certify", "tiny8/1"), ("gather_certification", "tiny8")]),
    ("tiny12.tsv", [("gather_certification", "tiny12")]),
])
def test_a_deleted_certification_is_rebuilt_by_all(finished, deleted, rebuilt):
    """Snakemake does not rerun a missing intermediate whose consumers are current; `all` names
    every shard and gathered file, so the next run rebuilds it and the tables follow."""
    path = finished / "results" / "certify" / deleted
    before = pd.read_csv(path, sep="\t").drop(columns="time")
    path.unlink()
    assert planned_jobs(snakemake(finished, "-n", "all")) == sorted(rebuilt + ANALYSIS_JOBS)
    snakemake(finished, "all")
    pd.testing.assert_frame_equal(pd.read_csv(path, sep="\t").drop(columns="time"), before)


@pytest.mark.parametrize("cut", ["line", "mid-line"])
def test_a_shard_cut_short_is_certified_again(finished, cut):
    """A finished shard cut short (at a line end, or in a row) is set aside when the next run is
    planned and certified again; the gathered file and the tables come out as before."""
    shard = finished / "results" / "certify" / "shards" / "tiny8" / "0-of-2.tsv"
    gathered = finished / "results" / "certify" / "tiny8.tsv"
    before = pd.read_csv(gathered, sep="\t").drop(columns="time")
    table = (finished / "results" / "tables" / "benchmark.csv").read_text()
    text = shard.read_text()
    shard.write_text(text[:text.rindex("\n", 0, -1) + 1] if cut == "line" else text[:-7])
    result = snakemake(finished, "all")
    assert "set aside as" in result.stderr and Path(f"{shard}.damaged").exists()
    pd.testing.assert_frame_equal(pd.read_csv(gathered, sep="\t").drop(columns="time"), before)
    assert (finished / "results" / "tables" / "benchmark.csv").read_text() == table


def test_an_edited_description_is_set_aside_and_the_file_made_again(finished):
    """size12.tsv.json edited (sigma), the fault of issue 18: the next run sees that the file is
    not what this configuration makes, sets it aside, gathers it again from its shards, and
    the table comes out as before."""
    gathered = finished / "results" / "certify" / "tiny12.tsv"
    table = (finished / "results" / "tables" / "benchmark.csv").read_text()
    described = json.loads(Path(f"{gathered}.json").read_text())
    Path(f"{gathered}.json").write_text(json.dumps(dict(described, sigma=0.5)))
    result = snakemake(finished, "all")
    assert "its description says sigma = 0.5 where the run would write 0.375" in result.stderr
    assert Path(f"{gathered}.json.damaged").exists()
    assert json.loads(Path(f"{gathered}.json").read_text())["sigma"] == 0.375
    assert (finished / "results" / "tables" / "benchmark.csv").read_text() == table


def test_another_experiments_file_under_this_ones_description_is_made_again(finished):
    """tiny12's rows (same images, other sigma) copied over tiny8's: its description's digest
    no longer fits, so the next run gathers tiny8 again; the table is the untouched run's."""
    certify = finished / "results" / "certify"
    table = (finished / "results" / "tables" / "benchmark.csv").read_text()
    (certify / "tiny8.tsv").write_bytes((certify / "tiny12.tsv").read_bytes())
    dry = snakemake(finished, "-n", "all")
    assert "a run (not a dry run) sets it aside" in dry.stdout + dry.stderr and (certify / "tiny8.tsv").exists()
    result = snakemake(finished, "all")
    assert "its rows are not the ones its description was written for" in result.stderr
    assert "rule gather_certification" in result.stdout + result.stderr
    assert (finished / "results" / "tables" / "benchmark.csv").read_text() == table


def test_a_deleted_model_is_rebuilt_by_all(finished):
    model = finished / "results" / "models" / "tiny12" / "model.pt"
    model.unlink()
    jobs = planned_jobs(snakemake(finished, "-n", "all"))
    assert ("train", "tiny12") in jobs and ("certify", "tiny12/0") in jobs
    snakemake(finished, "all")
    assert model.exists()


def test_a_checkpoint_path_that_is_not_a_file_stops_planning(tmp_path):
    (tmp_path / "released").mkdir()
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["experiments"] = [{"name": "imported8", "image_size": 8, "sigma": 0.25, "skip": 3, "max_images": 30,
                               "checkpoint": {"path": "released", "format": "original"}}]
    result = snakemake(tmp_path, "-n", "all", overlay=overlay, check=False)
    assert result.returncode != 0
    assert "config key experiments[0].checkpoint.path: released is not a file (a directory" in (result.stdout +
                                                                                                 result.stderr)


def test_deleting_the_figure_reruns_only_the_plot(finished):
    figure = finished / "results" / "figures" / "vary_dim.png"
    figure.unlink()
    assert planned_jobs(snakemake(finished, "-n", str(figure.relative_to(finished)))) == [("vary_dim_figure", "")]
    # `all` also refreshes the provenance record, which lists every output.
    assert planned_jobs(snakemake(finished, "-n", "all")) == [("provenance", ""), ("vary_dim_figure", "")]


def test_changing_one_sigma_reruns_that_experiment_and_the_analysis(finished):
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["experiments"][1]["sigma"] = 0.4
    assert planned_jobs(snakemake(finished, "-n", "all", overlay=overlay)) == sorted([
        ("train", "tiny12"), ("certify", "tiny12/0"), ("gather_certification", "tiny12"), ("training_curves", ""),
        *ANALYSIS_JOBS])


@pytest.mark.parametrize("setting, value", [("figure_title", "another title"), ("radius_max", 0.2),
                                            ("figure_skip", 2)])
def test_a_figure_setting_reruns_the_figures_that_read_it_and_no_table(finished, setting, value):
    """Each analysis job is passed only the settings its output reads: a figure's title, x range
    or subset reruns figures (and the provenance record, which holds the configuration) only."""
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["analysis"][setting] = value
    radius_figures = [] if setting == "radius_max" else [("radius_figures", "")]  # its range comes from the data
    assert planned_jobs(snakemake(finished, "-n", "all", overlay=overlay)) == sorted([
        ("methods_figures", ""), ("vary_dim_figure", ""), ("provenance", ""), *radius_figures])


def test_the_figures_target_redraws_every_figure_and_nothing_else(finished):
    forced = ["vary_dim_figure", "radius_figures", "methods_figures", "training_curves"]
    assert planned_jobs(snakemake(finished, "-n", "figures", "--forcerun", *forced)) == sorted(
        (rule, "") for rule in forced + ["figures"])  # `figures` itself runs nothing


def test_a_change_to_the_plotting_code_redraws_the_figures_alone(finished):
    """An edit of figures.py (its content: Snakemake compares checksums, so a bare touch is no
    change) plans the four figure jobs and nothing else."""
    code = ROOT / "src" / "linf_smoothing" / "figures.py"
    before, text = code.stat(), code.read_bytes()
    code.write_bytes(text + b"\n# edited after the run\n")
    try:
        assert planned_jobs(snakemake(finished, "-n", "figures")) == sorted(
            (rule, "") for rule in ("vary_dim_figure", "radius_figures", "methods_figures", "training_curves",
                                    "figures"))
    finally:
        code.write_bytes(text)
        os.utime(code, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_no_job_holds_an_absolute_path_so_a_moved_folder_reruns_nothing(tmp_path):
    """A job whose command or parameters hold the checkout's or the run's absolute path reruns
    when either moves (the provenance record did: --repository /abs/checkout)."""
    result = snakemake(tmp_path, "-n", "-p", "all")
    commands = [line for line in result.stdout.splitlines()
                if line.startswith("Shell command:") and line != "Shell command: None"]  # None: `all`
    assert len(commands) == len(planned_jobs(result))
    absolute = re.compile("|".join(rf"(?<![\w./-]){re.escape(str(path))}" for path in (ROOT, tmp_path)))
    for command in commands:  # a relative path to the checkout (../../work/...) holds its path's tail
        assert not absolute.search(command), command


def test_a_bad_config_stops_before_any_job(tmp_path):
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["certify"]["alpha"] = 1.5
    result = snakemake(tmp_path, "all", overlay=overlay, check=False)
    assert result.returncode != 0
    assert ("config key certify.alpha: 1.5 is greater than or equal to the maximum of 1 "
            f"(set in {tmp_path / 'overlay.yaml'})") in result.stderr
    assert not (tmp_path / "results").exists()


def test_cifar10_path_resizes_the_pickled_batches(tmp_path):
    write_cifar10_batches(tmp_path / "data" / "cifar10" / "cifar-10-batches-py", per_batch=5)
    overlay = dict(TINY, dataset="cifar10", data_dir="data")
    snakemake(tmp_path, "results/data/cifar10/size48/train.npz", overlay=overlay)
    with np.load(tmp_path / "results/data/cifar10/size48/train.npz") as split:
        assert split["images"].shape == (25, 3, 48, 48) and split["labels"].shape == (25,)
    assert "download" not in (tmp_path / "results/logs").iterdir().__next__().name


def test_paper_dag_dry_run_shows_the_papers_jobs(paper_dry_run):
    result = paper_dry_run
    jobs = planned_jobs(result)
    assert [r for r, _ in jobs].count("download_cifar10") == 1
    assert sorted(e for r, e in jobs if r in ("train", "gather_certification")) == sorted(
        2 * ["size32", "size48", "size64"])
    assert sorted(e for r, e in jobs if r == "certify") == sorted(
        [f"size32/{i}" for i in range(10)] + ["size48/0", "size64/0"])
    assert [r for r, _ in jobs].count("resize") == 3
    assert [r for r, _ in jobs].count("benchmark_table") == [r for r, _ in jobs].count("vary_dim_figure") == 1
    out = result.stdout
    for sigma, epsilon, size in (("0.12", "0.435", 32), ("0.18", "0.6525", 48), ("0.24", "0.87", 64)):
        # Every setting but those at the script's default (mixed_precision false).
        assert (f"--sigma {sigma} --depth 110 --widths 16 32 64 --epochs 55 --batch-size 256 --lr 0.1 --momentum 0.9 "
                "--weight-decay 0.0001 --lr-gamma 0.1 --crop-padding 4 --seed 1 --method trades --lr-milestones 50 "
                f"--epsilon {epsilon} --beta 6.0 --attack-steps 10 --train-data") in out
        assert f"--size {size}" in out
    assert "--sigma 0.12 --batch-size 10000 --compile --n0 1000 --n 100000 --alpha 0.001 --model" in out
    assert "--shard 0 --shards 10" in out
    # The analysis reads sigma, d, N and alpha from the certifications' descriptions.
    # Each analysis job is passed only the settings its output reads: the grid its radii, no figure's.
    grid = next(line for line in out.splitlines() if "--only grid" in line)
    assert "size32=results/certify/size32.tsv size48=results/certify/size48.tsv size64=results/certify/size64.tsv " \
        "--linf-threshold 0.00784313725490196 --grid-radii 0.0 0.002 0.004 0.006 0.00784313725490196 0.008 " \
        "--only grid" in grid
    figure = next(line for line in out.splitlines() if "--only vary_dim" in line)
    assert "--radius-max 0.01 --figure-skip 20" in figure and "--grid-radii" not in figure
    # The original's files carry no description: what is known of them is stated.
    assert re.search(r"--reference 'original size32=[./]*[^' ]*reference/original/"
                     r"output_noise12_size32_l2trades0435_beta6'", out)
    assert "--radius-norm 'original size32=linf'" in out and "--noise 'original size32=0.12:3072'" in out


def test_an_imported_checkpoint_is_certified_by_the_workflow(tmp_path):
    """An experiment with `checkpoint:` imports the released file (here the original's layout,
    built by test_released's re-implementation) and is certified and tabled like a trained one."""
    import torch
    from test_released import BearpawResNet, randomized

    theirs = randomized(BearpawResNet(8, in_channels=1))
    torch.save(torch.nn.DataParallel(theirs).state_dict(), tmp_path / "released.pt")
    overlay = yaml.safe_load(yaml.safe_dump(TINY))
    overlay["experiments"] = [{"name": "imported8", "image_size": 8, "sigma": 0.25, "skip": 3, "max_images": 30,
                               "checkpoint": {"path": "released.pt", "format": "original"}}]
    result = snakemake(tmp_path, "all", overlay=overlay)
    assert "rule train:" not in result.stdout + result.stderr
    table = pd.read_csv(tmp_path / "results" / "tables" / "benchmark.csv")
    assert list(table[table["source"] == "run"]["label"]) == ["imported8", "imported8"]
    cert = pd.read_csv(tmp_path / "results" / "certify" / "imported8.tsv", sep="\t")
    assert len(cert) == 30 and (tmp_path / "results" / "figures" / "vary_dim.png").exists()
    model = torch.load(tmp_path / "results" / "models" / "imported8" / "model.pt", weights_only=True)
    assert model["metadata"]["imported"]["format"] == "original"

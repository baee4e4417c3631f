"""The command-line scripts: --help everywhere, and a certification run is repeatable."""
import runpy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT, run_script
from linf_smoothing.data import save_split
from linf_smoothing.models import cifar_resnet
from linf_smoothing.results import read_description, save_checkpoint
from linf_smoothing.settings import as_dict
from linf_smoothing.training import train
from test_training import settings, tiny_data

SCRIPTS = sorted((ROOT / "scripts").glob("*.py")) + sorted(
    p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "measure.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help(script):
    result = run_script(script, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def run_certify(tmp_path, out, *extra, new_process=False):
    """certify.py on trained_model's files, in this process or (``new_process``) in a new interpreter."""
    script = ROOT / "scripts" / "certify.py"
    arguments = ["--model", str(tmp_path / "m.pt"), "--test-data", str(tmp_path / "test.npz"), "--sigma", "1.0",
                 "--n0", "20", "--n", "200", "--alpha", "0.001", "--batch-size", "64", "--device", "cpu",
                 "--out", str(out), *extra]
    result = run_script(script, *arguments, new_process=new_process)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(out, sep="\t")


def trained_model(tmp_path, test_images=12):
    """A tiny trained model (m.pt) and test split (test.npz) in ``tmp_path``."""
    images, labels = tiny_data(test_images)
    save_split(tmp_path / "test.npz", images, labels, "digits")
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    trained = settings(epochs=2)
    train(model, *tiny_data(64), images, labels, trained, torch.device("cpu"))
    save_checkpoint(tmp_path / "m.pt", model,
                    {"architecture": {"depth": 8, "widths": [4, 8, 8]}, "in_channels": 1, "num_classes": 2,
                     "image_size": 6, "training": as_dict(trained)})


@pytest.mark.slow
def test_certification_is_repeatable_and_subsets_agree(tmp_path):
    trained_model(tmp_path)
    first = run_certify(tmp_path, tmp_path / "a.tsv").drop(columns="time")
    # A new process gives the same rows: nothing carried over from the first run made them.
    second = run_certify(tmp_path, tmp_path / "b.tsv", new_process=True).drop(columns="time")
    pd.testing.assert_frame_equal(first, second)
    every_third = run_certify(tmp_path, tmp_path / "c.tsv", "--skip", "3").drop(columns="time")
    pd.testing.assert_frame_equal(every_third.reset_index(drop=True),
                                  first[first["idx"] % 3 == 0].reset_index(drop=True))
    assert first["count_a"].nunique() > 1  # the votes vary, so a different seed must show
    other_seed = run_certify(tmp_path, tmp_path / "d.tsv", "--seed", "5").drop(columns="time")
    assert not other_seed["count_a"].equals(first["count_a"])


def test_a_certification_records_how_its_model_was_trained(tmp_path):
    """The methods table groups runs by what their descriptions record of the checkpoint."""
    trained_model(tmp_path)
    run_certify(tmp_path, tmp_path / "a.tsv", "--max-images", "2")
    description = read_description(tmp_path / "a.tsv")
    assert description["training"] == as_dict(settings(epochs=2))
    assert description["training_method"] == settings(epochs=2).method


def test_a_user_error_is_one_line(tmp_path):
    result = run_script(ROOT / "scripts" / "certify.py", "--model", str(tmp_path / "no.pt"), "--test-data", "x.npz",
                        "--sigma", "1.0", "--n0", "1", "--n", "2", "--alpha", "0.1", "--batch-size", "2",
                        "--out", str(tmp_path / "o.tsv"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "no.pt is missing: run the train rule" in result.stderr
    assert not (tmp_path / "o.tsv").exists()


@pytest.mark.parametrize("script", ["certify.py", "predict.py"])
def test_a_checkpoint_is_used_only_on_the_images_it_was_made_for(tmp_path, script):
    """The checkpoint records its image size, channels and classes; other test data is refused."""
    trained_model(tmp_path)  # 6x6, one channel, two classes
    images, labels = tiny_data(6)
    cases = {"size8.npz": (np.zeros((6, 1, 8, 8), np.uint8), labels, "trained on 6x6 images and"),
             "rgb.npz": (np.repeat(images, 3, axis=1), labels, "takes 1-channel images and"),
             "ten.npz": (images, np.arange(6), "has label 5 and"),
             "bad-n.npz": (images, labels, "n = 0: give an integer of at least 1")}
    for name, (x, y, message) in cases.items():
        save_split(tmp_path / name, x, y, "digits")
        samples = ["--n0", "4"] if script == "certify.py" else []
        result = run_script(ROOT / "scripts" / script, "--model", str(tmp_path / "m.pt"),
                            "--test-data", str(tmp_path / name), "--sigma", "1.0", *samples,
                            "--n", "0" if name == "bad-n.npz" else "8", "--alpha", "0.1", "--batch-size", "4",
                            "--device", "cpu", "--out", str(tmp_path / "o.tsv"))
        assert result.returncode == 1, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, last
        assert not (tmp_path / "o.tsv").exists()


@pytest.mark.slow
def test_training_script_is_repeatable(tmp_path):
    images, labels = tiny_data(40)
    save_split(tmp_path / "train.npz", images, labels, "digits")
    checkpoints = []
    # The second run in a new process: nothing carried over in this one made the weights.
    for run, new_process in (("a", False), ("b", True)):
        result = run_script(ROOT / "scripts" / "train.py", "--train-data", str(tmp_path / "train.npz"),
                            "--test-data", str(tmp_path / "train.npz"), "--method", "trades", "--sigma", "0.25",
                            "--epsilon", "0.1",
                            "--beta", "6", "--attack-steps", "2", "--depth", "8", "--widths", "4", "8", "8",
                            "--epochs", "1", "--batch-size", "16", "--lr", "0.1", "--momentum", "0.9",
                            "--weight-decay", "1e-4", "--lr-gamma", "0.1", "--crop-padding", "1", "--seed", "3",
                            "--device", "cpu", "--model-out", str(tmp_path / f"{run}.pt"),
                            "--metrics-out", str(tmp_path / f"{run}.tsv"), new_process=new_process)
        assert result.returncode == 0, result.stderr
        checkpoints.append(torch.load(tmp_path / f"{run}.pt", weights_only=True)["state_dict"])
    for key in checkpoints[0]:
        assert torch.equal(checkpoints[0][key], checkpoints[1][key]), key


def test_provenance_runs_without_package_metadata(tmp_path, monkeypatch, capsys):
    """In the conda environment of the rules, snakemake and this package have no metadata."""
    from importlib import metadata

    real = metadata.version

    def version(name):
        if name in ("snakemake", "linf-smoothing"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    out = tmp_path / "provenance.json"
    monkeypatch.setattr(sys, "argv", ["provenance.py", "--config", "{}", "--benchmarks", str(tmp_path),
                                      "--repository", str(ROOT), "--out", str(out)])
    runpy.run_path(str(ROOT / "scripts" / "provenance.py"), run_name="__main__")
    import json

    import linf_smoothing

    packages = json.loads(out.read_text())["packages"]
    assert packages["snakemake"] is None and packages["linf-smoothing"] == linf_smoothing.__version__
    assert packages["torch"] == "2.13.0"


@pytest.mark.slow
def test_a_killed_certification_resumes_after_its_last_complete_row(tmp_path):
    import os
    import signal
    import time

    trained_model(tmp_path, test_images=16)
    command = [sys.executable, str(ROOT / "scripts" / "certify.py"), "--model", str(tmp_path / "m.pt"),
               "--test-data", str(tmp_path / "test.npz"), "--sigma", "0.5", "--n0", "100", "--n", "30000",
               "--alpha", "0.001", "--batch-size", "1000", "--device", "cpu", "--threads", "1"]
    partial = tmp_path / "killed.tsv.tmp"
    first = subprocess.Popen(command + ["--out", str(tmp_path / "killed.tsv")], stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and (
            not partial.exists() or partial.read_text().count("\n") < 4):
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    written = partial.read_text().count("\n") - 1
    assert 3 <= written < 16 and not (tmp_path / "killed.tsv").exists()
    with open(partial, "a") as handle:
        handle.write("99\t1\t1")  # a row cut mid-line by the kill: dropped, then redone
    second = subprocess.run(command + ["--out", str(tmp_path / "killed.tsv")], capture_output=True, text=True,
                            check=True)
    assert f"resuming after {written} of 16 images" in second.stderr
    assert not partial.exists() and (tmp_path / "killed.tsv.json").exists()
    straight = subprocess.run(command + ["--out", str(tmp_path / "straight.tsv")], capture_output=True, check=True)
    assert straight.returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "killed.tsv", sep="\t").drop(columns="time"),
                                  pd.read_csv(tmp_path / "straight.tsv", sep="\t").drop(columns="time"))
    # Partial rows written under another description are not reused.
    (tmp_path / "straight.tsv.tmp").write_text((tmp_path / "straight.tsv").read_text())
    (tmp_path / "straight.tsv.tmp.json").write_text('{"alpha": 0.01}')
    again = subprocess.run(command + ["--out", str(tmp_path / "straight.tsv")], capture_output=True, text=True,
                           check=True)
    assert "resuming" not in again.stderr

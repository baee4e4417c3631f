"""The command-line scripts: --help everywhere, and a certification run is repeatable."""
import argparse
import logging
import re
import runpy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT, run_script
from linf_smoothing import cli
from linf_smoothing.data import save_split
from linf_smoothing.models import cifar_resnet
from linf_smoothing.results import read_description, save_checkpoint
from linf_smoothing.settings import as_dict
from linf_smoothing.training import train
from test_training import settings, tiny_data

SCRIPTS = sorted((ROOT / "scripts").glob("*.py")) + sorted(
    p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "measure.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_shows_every_options_default(script, capsys, monkeypatch):
    """Each option with a value says its default, or "(required)"; an option whose default is
    None says in words what it means ("(default: all)")."""
    parsers = []
    parse_args = argparse.ArgumentParser.parse_args

    def keep(parser, *args, **kwargs):
        parsers.append(parser)
        return parse_args(parser, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", keep)
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    monkeypatch.syspath_prepend(str(script.parent))
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(str(script), run_name="__main__")
    shown = capsys.readouterr().out
    assert exit.value.code == 0 and "usage:" in shown
    (parser,) = parsers
    assert parser.formatter_class is cli.HelpFormatter
    for action in parser._actions:  # argparse keeps its options there and nowhere public
        if action.option_strings and (action.nargs != 0 or isinstance(action, argparse.BooleanOptionalAction)):
            text = " ".join((parser._get_formatter()._expand_help(action)).split())
            assert "(default: " in text or text.endswith("(required)"), (action.option_strings, text)
            assert "".join(text.split()) in "".join(shown.split())  # --help wraps lines, at hyphens too


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
             "ten.npz": (images, np.arange(6), "has label 5 and")}
    for name, (x, y, message) in cases.items():
        save_split(tmp_path / name, x, y, "digits")
        samples = ["--n0", "4"] if script == "certify.py" else []
        result = run_script(ROOT / "scripts" / script, "--model", str(tmp_path / "m.pt"),
                            "--test-data", str(tmp_path / name), "--sigma", "1.0", *samples,
                            "--n", "8", "--alpha", "0.1", "--batch-size", "4",
                            "--device", "cpu", "--out", str(tmp_path / "o.tsv"))
        assert result.returncode == 1, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, last
        assert not (tmp_path / "o.tsv").exists()


@pytest.mark.slow
def test_training_script_is_repeatable(tmp_path):
    """Also under device auto on a machine without a GPU (CUDA hidden), whose check of the CPU
    time runs before training and must leave the result alone."""
    import os

    images, labels = tiny_data(40)
    save_split(tmp_path / "train.npz", images, labels, "digits")
    checkpoints = []
    # The second run in a new process, under device auto with CUDA hidden: nothing carried over in
    # this process made the weights, and the check of the CPU time leaves the result alone.
    for run, device in (("a", "cpu"), ("b", "auto")):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--train-data",
                                 str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "train.npz"), "--method",
                                 "trades", "--sigma", "0.25", "--epsilon", "0.1",
                                 "--beta", "6", "--attack-steps", "2", "--depth", "8", "--widths", "4", "8", "8",
                                 "--epochs", "1", "--batch-size", "16", "--lr", "0.1", "--momentum", "0.9",
                                 "--weight-decay", "1e-4", "--lr-gamma", "0.1", "--crop-padding", "1", "--seed", "3",
                                 "--device", device, "--model-out", str(tmp_path / f"{run}.pt"),
                                 "--metrics-out", str(tmp_path / f"{run}.tsv")], capture_output=True, text=True,
                                env={**os.environ, "CUDA_VISIBLE_DEVICES": ""} if run == "b" else None)
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
                                      "--out", str(out)])
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


def run_named(name: str, *args: str) -> tuple[int, str]:
    """scripts/NAME run in this process (as cli.run does: user errors exit with status 1): its
    exit status and stderr."""
    result = run_script(ROOT / "scripts" / name, *args)
    return result.returncode, result.stderr


def certify_options(tmp_path, out: str, *extra: str, script: str = "certify.py") -> list[str]:
    """certify.py's (or predict.py's) options on trained_model's model and test images."""
    selection = ["--n0", "20"] if script == "certify.py" else []
    return ["--model", str(tmp_path / "m.pt"), "--test-data", str(tmp_path / "test.npz"), *selection, "--n", "200",
            "--alpha", "0.001", "--batch-size", "64", "--device", "cpu", "--out", str(tmp_path / out), *extra]


def test_sigma_defaults_to_the_one_the_checkpoint_was_trained_at(tmp_path, monkeypatch, capsys, caplog):
    trained_model(tmp_path)  # trained at sigma 0.25
    caplog.set_level(logging.INFO)
    assert run_named("certify.py", *certify_options(tmp_path, "a.tsv"))[0] == 0
    assert "sigma 0.25: the sigma the checkpoint was trained at" in caplog.text
    assert run_named("certify.py", *certify_options(tmp_path, "b.tsv", "--sigma", "0.25"))[0] == 0
    described = [read_description(tmp_path / name) for name in ("a.tsv", "b.tsv")]
    assert described[0]["sigma"] == 0.25
    assert [{k: v for k, v in d.items() if k != "rows_sha256"} for d in described] == [  # rows_sha256: the times
        {k: v for k, v in described[1].items() if k != "rows_sha256"}] * 2
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.tsv", sep="\t").drop(columns="time"),
                                  pd.read_csv(tmp_path / "b.tsv", sep="\t").drop(columns="time"))
    run_named("certify.py", *certify_options(tmp_path, "c.tsv", "--sigma", "0.5"))
    assert "sampling at sigma 0.5 a model trained at sigma 0.25" in caplog.text


@pytest.mark.parametrize("script", ["certify.py", "predict.py"])
def test_a_checkpoint_that_does_not_record_its_sigma_needs_sigma(tmp_path, monkeypatch, capsys, script):
    """An imported checkpoint (import_checkpoint.py) records no training."""
    trained_model(tmp_path)
    checkpoint = torch.load(tmp_path / "m.pt", weights_only=True)
    del checkpoint["metadata"]["training"]
    save_checkpoint(tmp_path / "m.pt", cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2),
                    checkpoint["metadata"])
    status, err = run_named(script, *certify_options(tmp_path, "o.tsv", script=script))
    assert status == 1 and err.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'm.pt'} does not record the sigma its model was trained at (an imported checkpoint): "
        "give --sigma")
    assert not (tmp_path / "o.tsv").exists()


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without a GPU, as device auto sees it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_device_auto_stops_a_training_of_more_than_an_hour_on_the_cpu(tmp_path, monkeypatch, capsys, no_cuda):
    images, labels = tiny_data(40)
    save_split(tmp_path / "train.npz", images, labels, "digits")
    status, err = run_named(
        "train.py", "--train-data", str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "train.npz"),
        "--method", "gaussian", "--sigma", "0.25", "--depth", "8", "--widths", "4", "8", "8", "--epochs", "10000000",
        "--batch-size", "16", "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "1e-4", "--lr-gamma", "0.1",
        "--crop-padding", "1", "--seed", "3", "--model-out", str(tmp_path / "m.pt"), "--metrics-out",
        str(tmp_path / "m.tsv"))
    last = err.strip().splitlines()[-1]
    assert status == 1 and re.fullmatch(
        r"error: device auto found no CUDA device, and training ResNet-8 \(gaussian\) for 10000000 epochs of 40 "
        r"images of 6 px would take about [\d.]+ (days|hours) on this CPU \([\d.e+]+ [PTG]FLOP counted, at [\d.e+]+ "
        r"GFLOP/s measured on steps of this job here\): run it where a GPU is visible, or set device: cpu \(the "
        r"scripts' option --device cpu\) to run it on the CPU anyway", last), last
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.tsv").exists()


@pytest.mark.parametrize("script", ["certify.py", "predict.py"])
def test_device_auto_stops_sampling_of_more_than_an_hour_on_the_cpu(tmp_path, monkeypatch, capsys, no_cuda, script):
    trained_model(tmp_path)
    options = certify_options(tmp_path, "o.tsv", "--device", "auto", "--n", "1000000000", script=script)
    status, err = run_named(script, *options)
    last = err.strip().splitlines()[-1]
    verb, samples = ("certifying", "1,000,000,020") if script == "certify.py" else ("predicting", "1,000,000,000")
    assert status == 1 and last.startswith(
        f"error: device auto found no CUDA device, and {verb} 12 images of 6 px with ResNet-8 ({samples} noisy "
        "samples each) would take about "), last
    assert last.endswith("set device: cpu (the scripts' option --device cpu) to run it on the CPU anyway")
    assert not (tmp_path / "o.tsv").exists()


def test_a_certification_log_shows_its_progress(tmp_path, monkeypatch, capsys, caplog):
    """With lines allowed at any time, one per 5% (here per image): images done, samples/s, time
    left, accuracy so far; none at 100%, where the last line says it is done."""
    from linf_smoothing import progress

    trained_model(tmp_path)
    monkeypatch.setattr(progress, "LOG_MIN_SECONDS", 0.0)
    caplog.set_level(logging.INFO)
    run_named("certify.py", *certify_options(tmp_path, "a.tsv"))
    lines = [r.getMessage() for r in caplog.records if r.name == "certify"]
    shown = [line for line in lines if line.startswith("shard 1/1: ")]
    assert len(shown) == 11 and lines[-1].startswith("done: 12 images")
    assert re.fullmatch(r"shard 1/1: 3/12 images \(25%\), [\d,]+ samples/s, 0:00:\d\d left, accuracy so far "
                        r"[01]\.\d{4}, \d abstentions", shown[2]), shown[2]

"""Every door checked (issue 24): each fault the issue lists, made by hand on real files or
real arguments, ends in one line that names the file or argument and the fix (or in a correct
result), before any work. Each test fails when the guard it names is removed."""
from __future__ import annotations

import argparse
import copy
import errno
import json
import logging
import re
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_checks import certify_rows, description, edit, without_digest

from conftest import ROOT, run_script
from linf_smoothing import estimate, validators
from linf_smoothing.certificates import max_certifiable_radius
from linf_smoothing.checks import (
    checkpoint_metadata,
    checkpoint_mismatch,
    file_digest,
    split_damage,
    training_mismatch,
)
from linf_smoothing.config import validate_config
from linf_smoothing.data import read_split, save_split
from linf_smoothing.errors import CheckpointError, ConfigError, DataError, DiskFullError, ResultError
from linf_smoothing.models import cifar_resnet
from linf_smoothing.prediction import predict_from_counts
from linf_smoothing.results import (
    CertificationWriter,
    PredictionWriter,
    atomic_path,
    load_certification,
    load_checkpoint,
    load_predictions,
    read_description,
    save_checkpoint,
    write_description,
)
from linf_smoothing.settings import TrainSettings, as_dict
from linf_smoothing.shards import selected_images

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
REFERENCE = ROOT / "reference"


# ---------------------------------------------------------------- every argument of every script

class Captured(BaseException):
    """Raised in place of parsing, carrying the script's parser."""


def parser_of(script: Path, monkeypatch) -> argparse.ArgumentParser:
    """The argument parser ``script`` builds, captured when it starts parsing."""
    def capture(self, *args, **kwargs):
        raise Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(sys, "argv", [str(script)])
    with pytest.raises(Captured) as captured:
        runpy.run_path(str(script), run_name="__main__")
    monkeypatch.undo()
    return captured.value.args[0]


def refusal(parser: argparse.ArgumentParser, argv: list[str], capsys) -> str | None:
    """The line with which ``parser`` refuses ``argv`` (None where it takes the values and
    stops only for the arguments left out)."""
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(argv)
    assert exit.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    return None if "the following arguments are required" in last else last


NONSENSE = ["nan", "inf", "-inf", "-1", "x", "L=nan", "L=-1"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_numeric_argument_refuses_nonsense_in_one_line_naming_it(script, monkeypatch, capsys):
    """Guard: validators' types on every option (settings.add_arguments' argument_type, the
    named validators in the scripts). An option typed plain int or float takes -1 or nan."""
    parser = parser_of(script, monkeypatch)
    checked = 0
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0 or (action.type is None and action.choices is None):
            continue
        option = action.option_strings[0]
        if refusal(parser, [f"{option}=x"], capsys) is None or refusal(parser, [f"{option}=L=x"], capsys) is None:
            continue  # free text: a path, a title, LABEL=PATH
        checked += 1
        for value in NONSENSE:
            line = refusal(parser, [f"{option}={value}"], capsys)
            assert line is not None, f"{script.name} {option} {value} is taken"
            assert f"argument {option}" in line, line
    if script.name in ("analyze.py", "certify.py", "predict.py", "train.py", "coverage.py", "resize.py"):
        assert checked >= 2


BOUNDARIES = [
    ("analyze.py", ["--noise", "a=0.12:0"], "argument --noise: a=0.12:0: 0 is not an integer in [1, 1000000000]"),
    ("analyze.py", ["--noise", "a=0.12:3073"], "3073 is not channels x size x size"),
    ("analyze.py", ["--linf-threshold", "-0.0078"], "argument --linf-threshold: -0.0078 is not a finite number "
                                                    "above 0"),
    ("analyze.py", ["--alpha", "nan"], "argument --alpha: nan is not a finite number"),
    ("analyze.py", ["--alpha", "a=1"], "argument --alpha: 1 is not a finite number in (0, 1)"),
    ("analyze.py", ["--n", "0"], "argument --n: 0 is not an integer in [1, 1000000000]"),
    ("analyze.py", ["--n", "a=99999999999999999999"], "99999999999999999999 is not an integer in [1, 1000000000]"),
    ("analyze.py", ["--figure-skip", "0"], "argument --figure-skip: 0 is not an integer in [1, 1000000000]"),
    ("analyze.py", ["--certificates", "bogus"], "argument --certificates: 'bogus' is not one of blum, cohen"),
    ("analyze.py", ["--radius-points", "1"], "argument --radius-points: 1 is not an integer of at least 2"),
    ("certify.py", ["--sigma", "255"], "255 is not a finite number in (0, 10] (a noise level of images in [0, 1]"),
    ("certify.py", ["--n0", "0"], "argument --n0: 0 is not an integer in [1, 1000000000]"),
    ("certify.py", ["--alpha", "1"], "argument --alpha: 1 is not a finite number in (0, 1)"),
    ("certify.py", ["--shards", "0"], "argument --shards: 0 is not an integer in [1, 10000]"),
    ("certify.py", ["--variant", "bogus"], "argument --variant: 'bogus' is not one of blum, cohen, sound_top2"),
    ("predict.py", ["--n", "1e5"], "argument --n: '1e5' is not an integer"),
    ("train.py", ["--momentum", "1.5"], "argument --momentum: 1.5 is not a finite number in [0, 1]"),
    ("train.py", ["--noise-copies", "2000"], "argument --noise-copies: 2000 is not an integer in [1, 1024]"),
    ("train.py", ["--widths", "4", "0", "8"], "argument --widths: 0 is not an integer in [1, 1000000000]"),
    ("train.py", ["--threads", "0"], "argument --threads: 0 is not an integer in [1, 1000000000]"),
    ("resize.py", ["--size", "3"], "argument --size: 3 is not an integer in [4, 1024]"),
    ("coverage.py", ["--runs", "0"], "argument --runs: 0 is not an integer in [1, 1000000000]"),
    ("gather_certification.py", ["--threshold", "0"], "argument --threshold: 0 is not a finite number above 0"),
    ("tie_order.py", ["--variants", "bogus"], "argument --variants: invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("script, argv, message", BOUNDARIES, ids=lambda v: " ".join(v) if isinstance(v, list) else
                         None)
def test_boundary_values_are_refused_naming_the_argument_its_value_and_range(script, argv, message, monkeypatch,
                                                                            capsys):
    parser = parser_of(ROOT / "scripts" / script, monkeypatch)
    line = refusal(parser, argv, capsys)
    assert line is not None and message in line, line


def run_named(name: str, argv: list) -> tuple[int, str]:
    """scripts/``name`` run in this process: its exit status and the last line of its stderr."""
    result = run_script(ROOT / "scripts" / name, *map(str, argv))
    err = result.stderr.strip().splitlines()
    return result.returncode, err[-1] if err else ""


def test_list_options_are_checked_as_a_whole(monkeypatch, capsys):
    """Guard: validators.check_lists in settings.from_arguments."""
    code, line = run_named("analyze.py", ["a=x.tsv", "--outdir", "o", "--certificates", "blum", "blum"])
    assert (code, line) == (1, "error: --certificates names blum twice: give each value once")
    code, line = run_named("analyze.py", ["a=x.tsv", "--outdir", "o", "--grid-radii"])
    assert (code, line) == (1, "error: --grid-radii needs at least 1 value(s)")


ORIGINAL = REFERENCE / "original" / "output_noise12_size32_l2trades0435_beta6"


def test_a_sigma_in_pixel_units_is_refused_unless_the_images_were_in_pixels(tmp_path):
    """Guard: the sigma cap in analysis.load_run. sigma 255 makes every radius plausible (the
    issue's l2 file declared l-inf then passed); with --pixel-max the file is read in [0, 1]
    units: a copy whose sigma and radii are in [0, 255] gives the original's table."""
    argv = [f"c={ORIGINAL}", "--radius-norm", "c=linf", "--only", "table", "--noise"]
    code, line = run_named("analyze.py", [*argv, "c=255:3072", "--outdir", tmp_path / "a"])
    assert code == 1 and "sigma 255 is not a noise level of images in [0, 1]" in line and "--pixel-max" in line
    frame = pd.read_csv(ORIGINAL, sep="\t")
    frame["radius"] = frame["radius"].map(lambda r: repr(float(r) * 255))
    frame.to_csv(tmp_path / "pixels.tsv", sep="\t", index=False)
    code, _ = run_named("analyze.py", [f"c={tmp_path / 'pixels.tsv'}", *argv[1:], "c=30.6:3072", "--pixel-max",
                                        "c=255", "--outdir", tmp_path / "p"])
    assert code == 0
    code, _ = run_named("analyze.py", [*argv, "c=0.12:3072", "--outdir", tmp_path / "o"])
    assert code == 0
    ours = pd.read_csv(tmp_path / "p" / "benchmark.csv").iloc[0]
    theirs = pd.read_csv(tmp_path / "o" / "benchmark.csv").iloc[0]
    assert ours["certified_accuracy"] == pytest.approx(theirs["certified_accuracy"]) == 0.622


def digits_run(tmp_path) -> Path:
    return certify_rows(tmp_path / "digits.tsv", description(), selected_images(30, 3))


def test_published_rows_beside_a_digits_run_are_refused(tmp_path):
    """Guard: benchmark_table's refusal (the paper's rows were dropped with the file given for one)."""
    code, line = run_named("analyze.py", [f"d={digits_run(tmp_path)}", "--outdir", tmp_path / "o", "--only", "table",
                                           "--published", f"Salman et al. (2019)={ORIGINAL}", "--noise",
                                           "Salman et al. (2019)=0.12:3072", "--radius-norm", "linf"])
    assert code == 1 and "the published rows (Salman et al. (2019)) are the paper's cifar10 table" in line, line


def test_an_option_that_only_changes_an_output_left_out_is_refused(tmp_path):
    """Guard: analyze.py's check of --published, --reference and --figure-outdir against --only."""
    code, line = run_named("analyze.py", [f"d={digits_run(tmp_path)}", "--outdir", tmp_path / "o", "--only", "grid",
                                           "--reference", f"r={ORIGINAL}"])
    assert code == 1 and "--reference changes only the vary_dim output, which --only grid leaves out" in line


def test_a_shard_is_not_analysed_as_a_whole_run(tmp_path):
    """Guard: load_certification's refusal of a shard (it gave a table of half the images)."""
    shard = certify_rows(tmp_path / "0-of-2.tsv", description(shard=0, shards=2), selected_images(30, 3)[:5])
    code, line = run_named("analyze.py", [f"d={shard}", "--outdir", tmp_path / "o"])
    assert code == 1 and "0-of-2.tsv is shard 1 of 2 of a certification (5 of its images)" in line
    frame, _ = load_certification(shard, shard=True)  # the gather reads it as what it is
    assert len(frame) == 5


def test_an_output_path_that_is_not_a_folder_is_one_line(tmp_path):
    """Guard: cli.run's OSError line (a file where the output folder goes)."""
    (tmp_path / "o").write_text("a file")
    code, line = run_named("analyze.py", [f"d={digits_run(tmp_path)}", "--outdir", tmp_path / "o", "--only", "grid"])
    assert code == 1 and line.startswith("error: ") and str(tmp_path / "o") in line, line


# ---------------------------------------------------------------- descriptions, counts, labels

@pytest.mark.parametrize("key, value, message", [
    ("test_images", 10**12, "test_images 1000000000000 is not an integer in [1, 1000000000]"),
    ("num_classes", "ten", "num_classes 'ten' is not an integer in [2, 1000000000]"),
    ("alpha", float("nan"), "alpha nan is not a finite number"),
    ("dimension", 65, "dimension 65 is not channels x size x size"),
    ("sigma", 255, "sigma 255 is not a finite number in (0, 10]"),
    ("max_images", 0, "max_images 0 is not an integer in [1, 1000000000]"),
])
def test_a_description_value_out_of_range_is_one_line_naming_the_file(tmp_path, key, value, message):
    """Guard: checks.check_description (10^12 images ran out of memory; a class count that is
    not a number was "invalid literal for int()" without the file)."""
    path = digits_run(tmp_path)
    write_description(path, dict(read_description(path), **{key: value}))
    with pytest.raises(ResultError) as error:
        load_certification(path)
    assert f"digits.tsv.json: {message}" in str(error.value) and "\n" not in str(error.value)


def test_counts_beyond_int64_are_one_line(tmp_path):
    """Guard: OverflowError caught where checks parse the counts."""
    path = digits_run(tmp_path)
    without_digest(path)
    edit(path, 0, estimation_counts="99999999999999999999999,0,0,0")
    with pytest.raises(ResultError, match=r"row 1 \(image 0\): estimation_counts '99999999999999999999999,0,0,0' "
                                          "is not comma-separated integers"):
        load_certification(path)


def labelled_split(tmp_path, count=30, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    path = tmp_path / "test.npz"
    save_split(path, rng.integers(0, 256, (count, 1, 8, 8), dtype=np.uint8), rng.integers(0, 4, count), "digits",
               "test")
    return path


def with_test_data(tmp_path, name="run.tsv", **extra):
    """A certification whose description names its test data (as certify.py writes), its rows'
    labels the test data's."""
    data = labelled_split(tmp_path)
    labels = read_split(data)[1]
    described = description(test_data=str(data), test_data_sha256=file_digest(data), **extra)
    path = certify_rows(tmp_path / name, described, selected_images(30, 3))
    frame = pd.read_csv(path, sep="\t")
    for row, idx in enumerate(frame["idx"]):
        edit(path, row, label=int(labels[idx]), correct=int(frame["predict"][row] == labels[idx]))
    write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    return path, labels


def test_a_label_changed_with_its_correct_and_digest_is_caught_against_the_test_data(tmp_path):
    """Guard: checks._check_labels (a row's label and correct changed, the digest rewritten,
    changed the accuracy silently)."""
    path, labels = with_test_data(tmp_path)
    load_certification(path)
    frame = pd.read_csv(path, sep="\t")
    row = int(np.flatnonzero(frame["predict"] >= 0)[0])
    other = (int(frame["label"][row]) + 1) % 4
    edit(path, row, label=other, correct=int(frame["predict"][row] == other))
    write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    with pytest.raises(ResultError, match=rf"row {row + 1} \(image {frame['idx'][row]}\): label {other} where its "
                                          rf"test data .*test.npz has {labels[frame['idx'][row]]}"):
        load_certification(path)


def test_a_resumed_run_keeps_no_row_whose_label_is_not_the_test_datas(tmp_path, caplog):
    """Guard: the label check in the partial rows (``RowWriter._check_prefix``): "resuming after
    20 of 180 images" into a different table."""
    path, _ = with_test_data(tmp_path, "whole.tsv")
    described = {k: v for k, v in read_description(path).items() if k != "rows_sha256"}
    lines = path.read_text().splitlines(keepends=True)
    partial = tmp_path / "run.tsv.tmp"
    partial.write_text("".join(lines[:5]))
    (tmp_path / "run.tsv.tmp.json").write_text(json.dumps(described, sort_keys=True))
    assert CertificationWriter(tmp_path / "run.tsv", described, expected=selected_images(30, 3)).done == 4
    partial.write_text("".join(lines[:5]))
    (tmp_path / "run.tsv.tmp.json").write_text(json.dumps(described, sort_keys=True))
    frame = pd.read_csv(path, sep="\t")
    other = (int(frame["label"][1]) + 1) % 4
    edit(partial, 1, label=other, correct=int(frame["predict"][1] == other))
    with caplog.at_level(logging.WARNING):
        assert CertificationWriter(tmp_path / "run.tsv", described, expected=selected_images(30, 3)).done == 0
    assert "not resuming from" in caplog.text and f"label {other} where its test data" in caplog.text


def test_the_training_a_description_records_is_its_checkpoints(tmp_path):
    """Guard: results.check_training_record (an edited training section filed a TRADES model
    under SmoothAdv (DDN) in the methods table)."""
    model = tmp_path / "model.pt"
    trained = TrainSettings(sigma=0.25, depth=8, widths=(4, 8, 8), epochs=1, batch_size=8, lr=0.1, momentum=0.9,
                            weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=1, method="trades", epsilon=0.1,
                            beta=6.0, attack_steps=1)
    save_checkpoint(model, cifar_resnet(8, (4, 8, 8), 1, 4), {"architecture": {"depth": 8, "widths": [4, 8, 8]},
                                                             "in_channels": 1, "num_classes": 4, "image_size": 8,
                                                             "training": as_dict(trained)})
    described = description(model=str(model), model_sha256=file_digest(model), training=as_dict(trained),
                            training_method="trades")
    path = certify_rows(tmp_path / "run.tsv", described, selected_images(30, 3))
    load_certification(path)
    forged = dict(as_dict(trained), method="smoothadv", attack="ddn", noise_copies=4)
    write_description(path, dict(read_description(path), training=forged, training_method="smoothadv"))
    with pytest.raises(ResultError, match=r"run.tsv.json records a training \(method smoothadv\) that is not the one "
                                          r"its checkpoint .*model.pt records \(method trades\)"):
        load_certification(path)


# ---------------------------------------------------------------- PREDICT files

def predictions(tmp_path, name="predict.tsv", alpha=0.01, n=100, legacy=False) -> tuple[Path, np.ndarray]:
    """A real prediction file: votes drawn at random, each row's PREDICT computed from them,
    written by the project's writer (the votes left out where ``legacy``)."""
    data = labelled_split(tmp_path)
    labels = read_split(data)[1]
    described = {"sigma": 0.25, "n": n, "alpha": alpha, "seed": 0, "skip": 3, "max_images": None, "test_images": 30,
                 "num_classes": 4, "batch_size": 100, "test_data": str(data), "test_data_sha256": file_digest(data)}
    rng = np.random.default_rng(1)
    path = tmp_path / name
    with PredictionWriter(path, described) as writer:
        for idx in selected_images(30, 3):
            counts = rng.multinomial(n, rng.dirichlet([3.0, 1.0, 1.0, 0.5]))
            writer.write(idx, int(labels[idx]), int(predict_from_counts(counts, alpha)[0]), 0.1, counts)
    if legacy:
        frame = pd.read_csv(path, sep="\t").drop(columns="counts")
        frame.to_csv(path, sep="\t", index=False)
        write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    return path, labels


def refused_prediction(path, pattern):
    with pytest.raises(ResultError) as error:
        load_predictions(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert re.search(pattern, str(error.value)), str(error.value)


def test_a_prediction_file_passes_and_its_digest_catches_an_edit(tmp_path):
    """Guards: check_prediction's digest, then its recomputation of each row from the votes."""
    path, _ = predictions(tmp_path)
    frame, _ = load_predictions(path)
    assert len(frame) == 10 and (frame["predict"] == -1).any() and (frame["predict"] >= 0).any()
    row = int(np.flatnonzero(frame["predict"] >= 0)[0])
    wrong = (int(frame["predict"][row]) + 1) % 4
    edit(path, row, predict=wrong, correct=int(wrong == frame["label"][row]))
    refused_prediction(path, "rows_sha256 differs")
    write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    refused_prediction(path, rf"row {row + 1} \(image \d+\): predict {wrong} is not the {frame['predict'][row]} that "
                             r"its counts give with the description's alpha 0.01")


def test_a_flipped_correct_in_a_prediction_file_is_caught(tmp_path):
    """Guard: check_columns on prediction files (a flipped correct changed predict.csv)."""
    path, _ = predictions(tmp_path, legacy=True)
    frame, _ = load_predictions(path)  # a file of an earlier version, without votes: every other check
    row = int(np.flatnonzero(frame["correct"] == 1)[0])
    edit(path, row, correct=0)
    write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    refused_prediction(path, rf"row {row + 1} .*correct is 0 where predict \d and label \d give 1")


def test_a_prediction_files_labels_and_images_are_its_descriptions(tmp_path):
    """Guards: _check_rows and _check_labels on prediction files."""
    path, labels = predictions(tmp_path)
    frame = pd.read_csv(path, sep="\t")
    other = (int(frame["label"][2]) + 1) % 4
    edit(path, 2, label=other, correct=int(frame["predict"][2] == other))
    write_description(path, dict(read_description(path), rows_sha256=file_digest(path)))
    refused_prediction(path, rf"row 3 \(image 6\): label {other} where its test data")
    path, _ = predictions(tmp_path, "other.tsv")
    write_description(path, dict(read_description(path), skip=2))
    refused_prediction(path, "image 3 where its description's run certifies image 2")


def test_the_prediction_table_refuses_an_edited_file_in_one_line(tmp_path):
    """Guard: prediction_table.py reads through load_predictions."""
    path, _ = predictions(tmp_path)
    code, _ = run_named("prediction_table.py", [f"a={path}", "--outdir", tmp_path / "t"])
    assert code == 0
    edit(path, 0, correct=1 - int(pd.read_csv(path, sep="\t")["correct"][0]))
    code, line = run_named("prediction_table.py", [f"a={path}", "--outdir", tmp_path / "u"])
    assert code == 1 and line.startswith("error: ") and "rows_sha256 differs" in line
    assert not (tmp_path / "u").exists()


def test_predict_from_counts_is_the_two_sided_binomial_test():
    """Against closed forms: 60 of 100 against 40 (p = 0.057) is kept as a tie at 0.05 and not
    at 0.06; a unanimous vote is a class; ties go to the lower class."""
    assert list(predict_from_counts([[40, 60, 0], [100, 0, 0], [0, 50, 50]], 0.05)) == [-1, 0, -1]
    assert list(predict_from_counts([[40, 60, 0]], 0.06)) == [1]
    with pytest.raises(ValueError, match="alpha = 1"):
        predict_from_counts([[1, 0]], 1)


# ---------------------------------------------------------------- resized data

def test_a_truncated_or_swapped_split_is_one_line(tmp_path):
    """Guards: read_split's BadZipFile, description digest and split checks (a truncated
    test.npz was a BadZipFile traceback in train.py and certify.py; the training split under
    test.npz was certified)."""
    path = labelled_split(tmp_path)
    read_split(path, "test")
    with pytest.raises(DataError, match="test.npz is the test split where the train split is needed"):
        read_split(path, "train")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError) as error:
        read_split(path)
    assert "is not a resized split (BadZipFile" in str(error.value) and "rerun the resize rule" in str(error.value)
    other = labelled_split(tmp_path / "other", seed=1)
    path.write_bytes(other.read_bytes())
    with pytest.raises(DataError, match="test.npz: its bytes are not the ones its description test.npz.json"):
        read_split(path)


def split_of(tmp_path, name, count, size=8, split="test", described=True):
    path = tmp_path / name
    save_split(path, np.zeros((count, 1, size, size), np.uint8), np.zeros(count, np.int64), "digits", split)
    if not described:
        Path(f"{path}.json").unlink()
    return path


def test_a_split_is_checked_against_what_it_should_be_when_a_run_is_planned(tmp_path):
    """Guard: checks.split_damage (what the workflow sets aside and remakes)."""
    assert split_damage(split_of(tmp_path, "a.npz", 360), "digits", "test", 8) is None
    assert "holds 1437x1x8x8 images where the test split of digits at size 8 is 360x1x8x8" in split_damage(
        split_of(tmp_path, "b.npz", 1437, split="train"), "digits", "test", 8)
    assert "where the test split of digits at size 12" in split_damage(split_of(tmp_path, "c.npz", 360), "digits",
                                                                       "test", 12)
    described_as_train = split_of(tmp_path, "d.npz", 360, split="train")
    assert "its description says split = 'train' where the run would write 'test'" in split_damage(
        described_as_train, "digits", "test", 8)
    assert split_damage(split_of(tmp_path, "e.npz", 360, described=False), "digits", "test", 8) is None
    cut = split_of(tmp_path, "f.npz", 360)
    cut.write_bytes(cut.read_bytes()[:-100])
    assert "it is not a readable resized split (BadZipFile" in split_damage(cut, "digits", "test", 8)


# ---------------------------------------------------------------- checkpoints

def saved_checkpoint(path, **training):
    settings = TrainSettings(sigma=0.25, depth=8, widths=(4, 8, 8), epochs=2, batch_size=8, lr=0.1, momentum=0.9,
                             weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=1, method="gaussian", **training)
    save_checkpoint(path, cifar_resnet(8, (4, 8, 8), 1, 10), {
        "architecture": {"depth": 8, "widths": [4, 8, 8]}, "in_channels": 1, "num_classes": 10, "image_size": 8,
        "training": as_dict(settings), "dataset": "digits", "data_sha256": {"train": "t", "test": "s"}})
    return settings


def test_a_checkpoint_is_read_without_torch(tmp_path):
    """checkpoint_metadata needs neither torch nor numpy, so the workflow reads it when it plans."""
    saved_checkpoint(tmp_path / "m.pt")
    code = ("import sys; from linf_smoothing.checks import checkpoint_metadata; "
            f"m = checkpoint_metadata({str(tmp_path / 'm.pt')!r}); "
            "assert m['training']['method'] == 'gaussian' and m['image_size'] == 8, m; "
            "assert not {'torch', 'numpy'} & set(sys.modules), 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")})
    (tmp_path / "text.pt").write_text("not a checkpoint")
    assert checkpoint_metadata(tmp_path / "text.pt") is None


def test_a_checkpoints_pickle_runs_no_code_when_read_for_planning(tmp_path):
    """A global outside torch (here os.system) is refused, not called."""
    import pickle

    class Payload:
        def __reduce__(self):
            import os
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"metadata": Payload()}))
    assert checkpoint_metadata(tmp_path / "evil.pt") is None and not (tmp_path / "pwned").exists()


def test_a_checkpoint_is_compared_with_the_experiment_that_should_have_made_it(tmp_path):
    """Guard: checks.checkpoint_mismatch (the methods profile's MACER model in the demo's size8
    folder was certified without a word)."""
    settings = saved_checkpoint(tmp_path / "m.pt")
    metadata = checkpoint_metadata(tmp_path / "m.pt")
    facts = dict(image_size=8, channels=1, dataset="digits")
    same = dict(facts, training=as_dict(settings), data_sha256={"train": "t", "test": "s"})
    assert checkpoint_mismatch(metadata, **same) is None
    macer = dict(as_dict(settings), method="macer", noise_copies=4, macer_lambda=1.0)
    assert checkpoint_mismatch(metadata, **dict(same, training=macer)) == (
        "it was trained with method = 'gaussian' where its experiment trains with 'macer'")
    assert "sigma = 0.25 where its experiment trains with 0.5" in checkpoint_mismatch(
        metadata, **dict(same, training=dict(as_dict(settings), sigma=0.5)))
    assert "made for 8-pixel images where its experiment's are 12" in checkpoint_mismatch(
        metadata, **dict(same, image_size=12))
    assert "trained on another test split" in checkpoint_mismatch(metadata, **dict(same, data_sha256={"test": "x"}))
    assert checkpoint_mismatch(metadata, **dict(same, data_sha256={"test": None})) is None  # an undescribed split
    assert "imported with format = None" in checkpoint_mismatch(metadata, imported={"format": "original"}, **facts)
    assert "not a checkpoint of this project" in checkpoint_mismatch(None, **facts)


def test_a_checkpoint_of_an_earlier_version_keeps_its_identity():
    """A setting added after a model was trained is missing from its record and held its
    default: no retraining for it; a method's setting left out at its default likewise."""
    settings = TrainSettings(sigma=0.25, depth=8, widths=(4, 8, 8), epochs=2, batch_size=8, lr=0.1, momentum=0.9,
                             weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=1, method="macer",
                             noise_copies=4, macer_lambda=1.0)
    recorded = {k: v for k, v in as_dict(settings).items() if k not in ("mixed_precision", "lr_milestones")}
    assert training_mismatch(recorded, as_dict(settings)) is None
    recorded = dict(as_dict(settings), macer_deferred_epochs=12)  # the model was deferred, the experiment is not
    assert training_mismatch(recorded, as_dict(settings)) == (
        "it was trained with macer_deferred_epochs = 12 where its experiment trains with 0")


def test_a_text_file_as_checkpoint_is_one_line(tmp_path):
    """Guard: results.load_torch_file's look at the file's first bytes ("KeyError: 544502645")."""
    (tmp_path / "m.pt").write_text("this is a text file\n")
    with pytest.raises(CheckpointError, match=r"m.pt is text, not a torch checkpoint: delete it and retrain"):
        load_checkpoint(tmp_path / "m.pt")
    code, line = run_named("import_checkpoint.py", ["--format", "original", "--checkpoint", tmp_path / "m.pt",
                                                     "--out", tmp_path / "o.pt"])
    assert code == 1 and "m.pt is text, not a torch checkpoint: give the path of the released original" in line


# ---------------------------------------------------------------- a full disk

class FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` writes have gone through."""

    def __init__(self, handle, room: int):
        self._handle, self._room = handle, room

    def write(self, text):
        if self._room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= 1
        return self._handle.write(text)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_a_full_disk_while_certifying_is_one_line_and_leaves_nothing_finished(tmp_path, monkeypatch, capsys,
                                                                              one_thread):
    """Guard: results.disk_full_named in RowWriter and cli.run's DiskFullError (a traceback
    before). The rerun after space is freed resumes and gives the rows of an undisturbed run."""
    import builtins

    from linf_smoothing import results

    images = np.random.default_rng(0).integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
    save_split(tmp_path / "test.npz", images, np.arange(12) % 4, "digits", "test")
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", cifar_resnet(8, (4, 8, 8), 1, 4), {
        "architecture": {"depth": 8, "widths": [4, 8, 8]}, "in_channels": 1, "num_classes": 4, "image_size": 8})
    argv = ["--model", tmp_path / "m.pt", "--test-data", tmp_path / "test.npz", "--sigma", "0.5", "--n0", "8", "--n",
            "32", "--alpha", "0.01", "--batch-size", "40", "--device", "cpu"]

    def full_after_six_writes(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)
        return FullDisk(handle, 6) if "a" in mode else handle

    monkeypatch.setattr(results, "open", full_after_six_writes, raising=False)
    code, line = run_named("certify.py", [*argv, "--out", tmp_path / "o.tsv"])
    monkeypatch.setattr(results, "open", builtins.open, raising=False)
    assert code == 1, line
    assert line == (f"error: no space left on the disk writing {tmp_path / 'o.tsv.tmp'} (No space left on device): "
                    "free space and run the same command again; no file was left under a finished name")
    assert not (tmp_path / "o.tsv").exists() and not (tmp_path / "o.tsv.json").exists()
    code, _ = run_named("certify.py", [*argv, "--out", tmp_path / "o.tsv"])
    assert code == 0
    code, _ = run_named("certify.py", [*argv, "--out", tmp_path / "straight.tsv"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "o.tsv", sep="\t").drop(columns="time"),
                                  pd.read_csv(tmp_path / "straight.tsv", sep="\t").drop(columns="time"))


def test_a_full_disk_under_atomic_path_names_the_file_and_leaves_nothing(tmp_path):
    """Guard: disk_full_named in atomic_path (tables, figures, splits, checkpoints)."""
    with pytest.raises(DiskFullError, match=r"no space left on the disk writing .*table.csv"):
        with atomic_path(tmp_path / "table.csv") as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- settings meaningless together

def trained(paper_config, **keys):
    config = copy.deepcopy(paper_config)
    config["experiments"][0].update(keys)
    return config


@pytest.mark.parametrize("change, key, message", [
    (lambda c: c["training"].update(lr_milestones=[55]), "training.lr_milestones",
     "milestone 55 is at or past the last epoch of experiment size32 (epochs 55"),
    (lambda c: c["experiments"][0].update(method="smoothadv", attack="pgd", noise_copies=2, warmup_epochs=56,
                                          beta=None), "experiments[0].warmup_epochs",
     "a warm-up of 56 epochs is longer than the 55 epochs of training"),
    (lambda c: c["experiments"][0].update(method="macer", noise_copies=4, macer_lambda=12.0, macer_deferred_epochs=55,
                                          beta=None, epsilon=None, attack_steps=None),
     "experiments[0].macer_deferred_epochs",
     "55 deferred epochs of 55: lambda never switches on, and the model is Gaussian augmentation's"),
    (lambda c: c["experiments"][0].update(method="smoothadv", attack="pgd", noise_copies=2, ddn_gamma=0.05,
                                          beta=None), "experiments[0].ddn_gamma",
     "ddn_gamma is a setting of attack ddn and experiment size32 uses attack pgd"),
    (lambda c: c["experiments"][0].update(method="consistency", noise_copies=1, consistency_lambda=10.0,
                                          beta=None, epsilon=None, attack_steps=None), "experiments[0].noise_copies",
     "one noise copy for method consistency: its KL term"),
    (lambda c: c["experiments"][0].update(method="macer", noise_copies=1, macer_lambda=12.0,
                                          beta=None, epsilon=None, attack_steps=None), "experiments[0].noise_copies",
     "one noise copy for method macer"),
    (lambda c: c["experiments"][0].update(beta=0.0), "experiments[0].attack_steps",
     "10 attack steps with beta 0: the attack's result is weighted 0"),
])
def test_settings_meaningless_together_are_refused_unless_meant(paper_config, change, key, message):
    """Guards: config._check_meaningful_together, each sentence (MACER deferred to the end
    trained Gaussian augmentation, bit for bit, under MACER's name)."""
    config = copy.deepcopy(paper_config)
    change(config)
    config["experiments"][0] = {k: v for k, v in config["experiments"][0].items() if v is not None}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value).startswith(f"config key {key}: {message}"), str(error.value)
    assert str(error.value).endswith("set allow_degenerate: true in experiment size32 if you mean it")
    for experiment in config["experiments"]:  # a shared milestone concerns every experiment
        experiment["allow_degenerate"] = True
    validate_config(config)


@pytest.mark.parametrize("key, text, hint", [
    (("certify", "n"), "1.0e9", "'1.0e9' is not of type 'integer' (YAML reads '1.0e9' as text: write 1000000000)"),
    (("training", "lr"), "1e-5", "'1e-5' is not of type 'number' (YAML reads '1e-5' as text: write 1.0e-05)"),
])
def test_a_number_yaml_reads_as_text_says_how_to_write_it(paper_config, key, text, hint):
    """Guard: config._yaml_text_hint. The written form is a YAML number."""
    import yaml

    config = copy.deepcopy(paper_config)
    config[key[0]][key[1]] = text
    with pytest.raises(ConfigError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        validate_config(config)
    assert isinstance(yaml.safe_load(hint.rsplit("write ", 1)[1].rstrip(")")), (int, float))


def test_a_sigma_in_pixel_units_is_refused_in_the_configuration(paper_config):
    config = trained(paper_config, sigma=30.6)
    with pytest.raises(ConfigError, match=r"config key experiments\[0\].sigma: 30.6 is greater than the maximum of 10"):
        validate_config(config)


# ---------------------------------------------------------------- a first epoch of days

def test_passes_per_image_are_the_methods_costs():
    """The README's table of methods: trades K + 2, smoothadv m (k + 1), consistency and macer m."""
    base = dict(sigma=0.25, depth=8, widths=(4, 8, 8), epochs=2, batch_size=8, lr=0.1, momentum=0.9,
                weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=1)
    costs = [("trades", dict(beta=6.0, attack_steps=10), 12), ("gaussian", {}, 1),
             ("smoothadv", dict(noise_copies=4, attack_steps=4), 20), ("consistency", dict(noise_copies=2), 2),
             ("macer", dict(noise_copies=16), 16)]
    for method, keys, passes in costs:
        assert estimate.passes_per_image(TrainSettings(method=method, **base, **keys)) == passes
    settings = TrainSettings(method="gaussian", **base)
    assert estimate.first_epoch_seconds(settings, 0.003, 1000, 300, processes=2) == pytest.approx(
        (1000 * (1 + 1 / 3) + 600 / 3) * 0.003 / 2)


def test_a_first_epoch_of_more_than_an_hour_is_announced_with_its_estimate(caplog, one_thread):
    """Guard: estimate.warn_if_long, called by train.py before training (10^9 attack steps
    were still in their first epoch after 3 minutes, with no word). The probe leaves the model
    and every random generator as they were."""
    settings = TrainSettings(sigma=0.25, depth=8, widths=(4, 8, 8), epochs=2, batch_size=8, lr=0.1, momentum=0.9,
                             weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=1, method="trades", beta=6.0,
                             epsilon=0.1, attack_steps=10**9)
    model = cifar_resnet(8, (4, 8, 8), 1, 10)
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    with caplog.at_level(logging.WARNING):
        seconds = estimate.warn_if_long(model, settings, (1437, 1, 8, 8), 360, torch.device("cpu"))
    assert seconds > 86400 and "the first epoch is estimated to take" in caplog.text and "days" in caplog.text
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        estimate.warn_if_long(model, settings.__class__(**dict(vars(settings), attack_steps=1)), (64, 1, 8, 8), 16,
                              torch.device("cpu"))
    assert caplog.text == ""


# ---------------------------------------------------------------- library entry points

def test_alpha_one_in_a_library_call_names_alpha():
    """Guard: max_certifiable_radius's argument checks ("p must be in the range")."""
    with pytest.raises(ValueError, match="alpha = 1: the failure probability must lie strictly between 0 and 1"):
        max_certifiable_radius(0.12, 100_000, 1, 3072)
    with pytest.raises(ValueError, match="n = 0"):
        max_certifiable_radius(0.12, 0, 0.001, 3072)


def test_the_validators_state_the_range_they_check():
    assert validators.valid_range(validators.key_schema("certify", "alpha")) == "a finite number in (0, 1)"
    assert validators.dimension_side(0) is None and validators.dimension_side(3072) == 32
    with pytest.raises(argparse.ArgumentTypeError, match="0 is not an integer in"):
        validators.dimension("0")


def test_published_rows_in_a_configuration_of_another_dataset_are_refused(demo_config):
    """Guard: validate_config's check of analysis.published_files (dropped without a word)."""
    config = copy.deepcopy(demo_config)
    config["analysis"]["published_files"] = [{"method": "Salman et al. (2019)", "path": "x", "radius_norm": "l2",
                                              "sigma": 0.12, "dimension": 3072}]
    with pytest.raises(ConfigError, match=r"config key analysis.published_files: the published rows are the paper's "
                                          r"cifar10 table, which a table of digits runs leaves out"):
        validate_config(config)

"""A certification file is checked against what made it: its rows against its description,
its stored certificates against its counts, every column against the others. Each fault the
issue lists, made by hand on a real file, ends in one line naming the file, the row and what
disagrees."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from linf_smoothing.certificates import certify_counts
from linf_smoothing.checks import description_mismatch, file_digest
from linf_smoothing.errors import ResultError
from linf_smoothing.gathering import gather_certifications
from linf_smoothing.results import CertificationWriter, load_certification, read_description, write_description
from linf_smoothing.shards import selected_images, shard_images
from linf_smoothing.smoothing import Counts

NUM_CLASSES = 4


def description(sigma=0.25, test_images=30, skip=3, **extra) -> dict:
    """What certify.py writes beside a certification (the fields the checks read)."""
    return {"sigma": sigma, "dimension": 64, "n0": 20, "n": 200, "alpha": 0.01, "variant": "blum", "seed": 0,
            "skip": skip, "max_images": None, "test_images": test_images, "num_classes": NUM_CLASSES,
            "dataset": "digits", "image_size": 8, **extra}


def certify_rows(path, described: dict, indices, seed=0):
    """A real certification file: counts drawn at random, each row's certificate computed from
    them, written by the project's writer (which adds the rows' digest)."""
    rng = np.random.default_rng(seed)
    with CertificationWriter(path, described) as writer:
        for idx in indices:
            p = rng.dirichlet([8.0, 1.0, 1.0, 0.5])
            counts = Counts(rng.multinomial(described["n0"], p), rng.multinomial(described["n"], p))
            cert = certify_counts(counts.selection, counts.estimation, described["sigma"], described["alpha"],
                                  described["variant"], described["dimension"])
            writer.write(idx, int(rng.integers(0, 2)), cert, 0.1, counts)
    return path


@pytest.fixture
def certified(tmp_path):
    described = description()
    return certify_rows(tmp_path / "run.tsv", described, selected_images(30, 3))


def edit(path, row: int, **values):
    """Change columns of data row ``row`` (0-based) in place, as a text editor would."""
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    fields = lines[row + 1].rstrip("\n").split("\t")
    for column, value in values.items():
        fields[header.index(column)] = str(value)
    lines[row + 1] = "\t".join(fields) + "\n"
    path.write_text("".join(lines))


def without_digest(path):
    """The description without its rows' digest (as files written before it existed), so that
    the row checks themselves are seen."""
    described = read_description(path)
    del described["rows_sha256"]
    write_description(path, described)


def refused(path, pattern: str):
    with pytest.raises(ResultError) as error:
        load_certification(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    assert re.search(pattern, message), message
    return message


def test_a_real_file_passes_and_keeps_its_values(certified):
    frame, described = load_certification(certified)
    assert list(frame["idx"]) == selected_images(30, 3)
    assert described["rows_sha256"] == file_digest(certified)
    assert set(frame["correct"]) <= {0, 1}


def row_where(path, condition):
    frame = pd.read_csv(path, sep="\t")
    return int(np.flatnonzero(condition(frame))[0])


@pytest.mark.parametrize("fault, pattern", [
    ("flip correct", r"row \d+ \(image \d+\): correct is 0 where predict \d and label \d give 1"),
    ("negative radius", r"radius -0.5 is not a finite number of at least 0"),
    ("predict 42", r"predict 42 is neither -1 \(abstain\) nor a class or above 3"),
    ("predict -7", r"predict -7 is neither -1"),
    ("label 11", r"label 11 is negative or above 3"),
    ("radius on an abstention", r"on an abstention"),
    ("another radius", r"radius 0.001 is not the .* that the counts give"),
])
def test_an_edited_value_is_caught(certified, fault, pattern):
    frame = pd.read_csv(certified, sep="\t")
    correct_row = row_where(certified, lambda f: f["correct"] == 1)
    abstain_row = row_where(certified, lambda f: f["predict"] == -1)
    changes = {"flip correct": (correct_row, {"correct": 0}),
               "negative radius": (correct_row, {"radius": -0.5}),
               "predict 42": (correct_row, {"predict": 42, "correct": 0}),
               "predict -7": (correct_row, {"predict": -7, "correct": 0}),
               "label 11": (correct_row, {"label": 11, "correct": 0}),
               "radius on an abstention": (abstain_row, {"radius": 0.004}),
               "another radius": (correct_row, {"radius": 0.001})}
    row, values = changes[fault]
    assert frame["predict"].iloc[abstain_row] == -1
    edit(certified, row, **values)
    refused(certified, "rows_sha256 differs")  # the digest catches any edit
    without_digest(certified)
    message = refused(certified, pattern)  # and the row checks say what
    assert f"row {row + 1} " in message


def test_duplicated_missing_and_replaced_rows_are_caught(certified):
    lines = certified.read_text().splitlines(keepends=True)
    without_digest(certified)
    certified.write_text("".join(lines[:4] + [lines[3]] + lines[4:]))  # image 6 twice
    refused(certified, r"row 4 \(image 6\): image 6 appears a second time")
    certified.write_text("".join(lines[:4] + [lines[3]] + lines[5:]))  # image 9 replaced by image 6
    refused(certified, r"row 4 \(image 6\): image 6 appears a second time")
    certified.write_text("".join(lines[:-1]))
    refused(certified, r"9 rows where its description's run certifies 10 images \(the first missing is image 27\)")
    certified.write_text("".join(lines[:3] + lines[4:] + [lines[3].replace("6\t", "30\t", 1)]))
    refused(certified, r"row 3 \(image 9\): image 9 where its description's run certifies image 6")


def test_an_edited_description_is_caught(certified):
    described = read_description(certified)
    write_description(certified, dict(described, sigma=0.5))
    refused(certified, r"radius .* is not the .* that the counts give with the description's sigma 0.5")
    write_description(certified, dict(described, n=201))
    refused(certified, r"estimation_counts sum to 200 where the run drew 201 samples")
    write_description(certified, dict(described, skip=2))
    refused(certified, r"image 3 where its description's run certifies image 2")
    write_description(certified, {k: v for k, v in described.items() if k != "alpha"})
    refused(certified, r"lacks alpha")


def test_a_foreign_file_under_our_description_is_caught(tmp_path):
    """Another experiment's shard (other sigma, same images) put under this one's description."""
    ours = certify_rows(tmp_path / "ours.tsv", description(sigma=0.25), selected_images(30, 3), seed=1)
    theirs = certify_rows(tmp_path / "theirs.tsv", description(sigma=0.375), selected_images(30, 3), seed=2)
    ours.write_bytes(theirs.read_bytes())
    refused(ours, "rows_sha256 differs")
    without_digest(ours)
    refused(ours, r"is not the .* that the counts give with the description's sigma 0.25")


def test_counts_that_no_run_draws_are_caught(certified):
    without_digest(certified)
    edit(certified, 0, selection_counts="20,0,0")
    refused(certified, r"row 1 \(image 0\): selection_counts has 3 classes where the model has 4")
    edit(certified, 0, selection_counts="20,0,0,x")
    refused(certified, r"selection_counts '20,0,0,x' is not comma-separated integers")


def test_a_file_with_counts_needs_its_description(certified):
    (certified.parent / "run.tsv.json").unlink()
    refused(certified, "holds vote counts but its description run.tsv.json is missing")


@pytest.mark.parametrize("name", ["cohen/cohen_full_sigma_0.12", "original/output_noise12_size32_l2trades0435_beta6"])
def test_published_files_pass_the_checks_their_columns_allow(tmp_path, name):
    frame, described = load_certification(ROOT / "reference" / name)
    assert described is None and len(frame) >= 500
    copy = tmp_path / "copy.tsv"
    copy.write_text((ROOT / "reference" / name).read_text())
    edit(copy, int(np.flatnonzero(frame["correct"] == 1)[0]), correct=0)
    refused(copy, "correct is 0 where predict")
    copy.write_text((ROOT / "reference" / name).read_text())
    lines = copy.read_text().splitlines(keepends=True)
    copy.write_text("".join(lines + [lines[1]]))
    refused(copy, "appears a second time")


@pytest.mark.parametrize("content, message", [
    (b"", r"empty.tsv is empty: it is not a certification file"),
    (bytes(range(256)) * 4, r"empty.tsv is not text: it is not a certification file"),
])
def test_empty_and_binary_files_are_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "empty.tsv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        load_certification(path)
    assert "\n" not in str(error.value)
    with pytest.raises(FileNotFoundError, match="missing.tsv is not a file"):
        load_certification(tmp_path / "missing.tsv")


def test_description_mismatch_names_the_key():
    assert description_mismatch(description(), {"sigma": 0.25, "max_images": None}) is None
    assert "sigma = 0.5 where the run would write 0.25" in description_mismatch(description(sigma=0.5),
                                                                              {"sigma": 0.25})
    assert "lacks model_sha256" in description_mismatch(description(), {"model_sha256": "ab"})
    assert description_mismatch(None, {"sigma": 0.25}) == "it has no description"
    assert description_mismatch(description(), {"grid": (1, 2)}) == "its description lacks grid (expected [1, 2])"


def shards_of(tmp_path, described, shards=2, name="run"):
    paths = []
    for shard in range(shards):
        indices = shard_images(selected_images(described["test_images"], described["skip"]), shard, shards)
        path = tmp_path / name / f"{shard}-of-{shards}.tsv"
        paths.append(certify_rows(path, dict(described, shard=shard, shards=shards), indices, seed=shard))
    return paths


def test_gather_checks_every_shard_and_describes_the_gathered_rows(tmp_path):
    paths = shards_of(tmp_path, description())
    out = tmp_path / "all.tsv"
    assert gather_certifications(paths, out) == 10
    frame, gathered = load_certification(out)
    assert list(frame["idx"]) == selected_images(30, 3)
    assert gathered["rows_sha256"] == file_digest(out) and "shard" not in gathered and gathered["shards"] == 2
    assert out.read_text() == paths[0].read_text() + "".join(paths[1].read_text().splitlines(keepends=True)[1:])


def test_gather_refuses_another_experiments_shard_under_this_ones_description(tmp_path):
    ours = shards_of(tmp_path, description(sigma=0.25), name="ours")
    theirs = shards_of(tmp_path, description(sigma=0.375), name="theirs")
    ours[1].write_bytes(theirs[1].read_bytes())
    with pytest.raises(ResultError, match="1-of-2.tsv: its bytes are not the ones its description"):
        gather_certifications(ours, tmp_path / "all.tsv")
    without_digest(ours[1])
    with pytest.raises(ResultError, match=r"1-of-2.tsv, row 1 \(image 15\): .* the description's sigma 0.25"):
        gather_certifications(ours, tmp_path / "all.tsv")
    assert not (tmp_path / "all.tsv").exists()


def test_gather_refuses_shards_out_of_place_or_of_other_runs(tmp_path):
    paths = shards_of(tmp_path, description())
    with pytest.raises(ValueError, match="is shard 1, given as shard 0"):
        gather_certifications(paths[::-1], tmp_path / "all.tsv")
    with pytest.raises(ValueError, match="is shard 0, given as shard 1"):
        gather_certifications([paths[0], paths[0]], tmp_path / "all.tsv")
    described = read_description(paths[1])
    write_description(paths[1], dict(described, seed=3))
    with pytest.raises(ValueError, match="descriptions differ"):
        gather_certifications(paths, tmp_path / "all.tsv")
    (tmp_path / "run" / "1-of-2.tsv.json").unlink()
    with pytest.raises(ValueError, match="1-of-2.tsv has no description"):
        gather_certifications(paths, tmp_path / "all.tsv")


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[:text.rindex("\n", 0, -1) + 1], r"1-of-2.tsv: it holds 4 rows where its images are 5"),
    (lambda text: text[:-4], r"1-of-2.tsv: row 5 is cut short"),
    (lambda text: text.replace("\t0.1000\t", "\t", 1), r"1-of-2.tsv: row 1 has 12 fields where the header has 13"),
])
def test_gather_refuses_a_damaged_shard_naming_file_and_row(tmp_path, damage, message):
    paths = shards_of(tmp_path, description())
    paths[1].write_text(damage(paths[1].read_text()))
    with pytest.raises(ValueError, match=message):
        gather_certifications(paths, tmp_path / "all.tsv")
    assert not (tmp_path / "all.tsv").exists()


def test_the_writer_records_the_rows_digest_on_close(tmp_path):
    path = certify_rows(tmp_path / "x.tsv", description(), [0, 3])
    assert json.loads((tmp_path / "x.tsv.json").read_text())["rows_sha256"] == file_digest(path)


def test_a_resumed_run_keeps_only_rows_that_pass_the_checks(tmp_path, caplog):
    """A killed run's rows are kept by the next run of the same settings only if they are what
    their counts say; an edited row makes it start over."""
    described = description()
    path = tmp_path / "run.tsv"
    with pytest.raises(KeyboardInterrupt):
        with CertificationWriter(path, described, expected=selected_images(30, 3)) as writer:
            certify_rows(tmp_path / "whole.tsv", described, selected_images(30, 3))
            for line in (tmp_path / "whole.tsv").read_text().splitlines(keepends=True)[1:5]:
                writer._handle.write(line)
            raise KeyboardInterrupt
    partial = tmp_path / "run.tsv.tmp"
    kept = partial.read_text()
    assert CertificationWriter(path, described, expected=selected_images(30, 3)).done == 4
    partial.write_text(kept)
    (tmp_path / "run.tsv.tmp.json").write_text(json.dumps(described, sort_keys=True))
    edit(partial, 2, radius=0.001, predict=1, correct=0)
    with caplog.at_level("WARNING"):
        assert CertificationWriter(path, described, expected=selected_images(30, 3)).done == 0
    assert "not resuming from" in caplog.text and "row 3 (image 6)" in caplog.text

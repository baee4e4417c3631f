import os
import pickle

import numpy as np
import pytest
import torch

from conftest import ROOT
from linf_smoothing.checks import file_digest
from linf_smoothing.models import cifar_resnet
from linf_smoothing.results import (
    CERTIFY_COLUMNS,
    CERTIFY_EXTRA_COLUMNS,
    CertificationWriter,
    CheckpointError,
    atomic_path,
    load_model,
    read_certification,
    read_description,
    save_checkpoint,
)
from linf_smoothing.smoothing import Certificate, Counts

META = {"architecture": {"depth": 8, "widths": [4, 8, 8]}, "in_channels": 1, "num_classes": 10,
        "image_size": 8, "sigma": 0.25, "epochs": 1}


def test_certification_tsv_roundtrip_at_full_precision(tmp_path):
    path = tmp_path / "cert.tsv"
    radius = 0.0078431372549019612  # just above 2/255: three digits would lose it
    with CertificationWriter(path, {"sigma": 0.25}) as writer:
        assert (tmp_path / "cert.tsv.tmp").exists() and not path.exists()
        writer.write(0, 3, Certificate(3, radius * 55.4, radius, 0.99, 0.01, 990, 3, radius * 55.4), 1.5,
                     Counts(np.array([0, 0, 1, 99]), np.array([7, 0, 3, 990])))
        writer.write(1, 2, Certificate(-1, 0.0, 0.0, 0.4, 0.45, 400, 380, 0.0), 0.5,
                     Counts(np.array([50, 0, 50, 0]), np.array([380, 220, 400, 0])))
    frame = read_certification(path)
    assert list(frame.columns) == CERTIFY_COLUMNS + CERTIFY_EXTRA_COLUMNS
    assert frame["radius"][0] == radius
    assert list(frame["estimation_counts"]) == ["7,0,3,990", "380,220,400,0"]
    assert read_description(path) == {"sigma": 0.25, "rows_sha256": file_digest(path)}
    assert list(frame["correct"]) == [1, 0] and list(frame["predict"]) == [3, -1]
    assert not (tmp_path / "cert.tsv.tmp").exists()


def test_a_failed_write_leaves_no_finished_file(tmp_path):
    path = tmp_path / "cert.tsv"
    with pytest.raises(RuntimeError):
        with CertificationWriter(path, {}) as writer:
            writer.write(0, 1, Certificate(1, 0.1, 0.01, 0.9, 0.1, 9, 1, 0.1), 0.1,
                         Counts(np.array([1, 9]), np.array([1, 9])))
            raise RuntimeError("killed")
    assert not path.exists() and read_description(path) is None
    # What is left is the partial run, under names that do not look finished, for a resume.
    assert sorted(os.listdir(tmp_path)) == ["cert.tsv.tmp", "cert.tsv.tmp.json"]
    assert (tmp_path / "cert.tsv.tmp").read_text().count("\n") == 2
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise ValueError
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "x.txt.tmp").exists()


def test_reads_the_originals_timedelta_format():
    frame = read_certification(ROOT / "reference/original/output_noise12_size32_l2trades0435_beta6")
    assert len(frame) == 500 and frame["time"][0] == pytest.approx(12.152043)
    assert frame["idx"].tolist()[:3] == [0, 20, 40]


def test_checkpoint_roundtrip(tmp_path):
    model = cifar_resnet(8, (4, 8, 8), in_channels=1)
    save_checkpoint(tmp_path / "m.pt", model, META)
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta == META and not loaded.training
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x))


def test_truncated_missing_and_wrong_architecture_checkpoints(tmp_path):
    save_checkpoint(tmp_path / "m.pt", cifar_resnet(8, (4, 8, 8), in_channels=1), META)
    blob = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="cut.pt is not a loadable checkpoint.*retrain"):
        load_model(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "none.pt")
    save_checkpoint(tmp_path / "wrong.pt", cifar_resnet(14, (4, 8, 8), in_channels=1), META)
    with pytest.raises(CheckpointError, match="does not match its declared architecture"):
        load_model(tmp_path / "wrong.pt")


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    Payload.marker = marker
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump({"state_dict": Payload(), "metadata": {}}, handle)
    torch.save({"state_dict": Payload(), "metadata": META}, tmp_path / "evil_zip.pt")
    for name in ("evil.pt", "evil_zip.pt"):
        with pytest.raises(CheckpointError):
            load_model(tmp_path / name)
    assert not marker.exists()
    # The payload is real: plain unpickling runs it.
    with open(tmp_path / "evil.pt", "rb") as handle:
        pickle.load(handle)
    assert marker.exists()


@pytest.mark.parametrize("body, message", [
    ("0\t3\t3\tabc\t1\t0.5\n", r"row 1: radius 'abc' is not a number"),
    ("0\t3\t3\t0.01\t1\t0.5\n1\t2\t2\tnan\t1\t0.5\n", r"row 2: radius 'nan' is not a number"),
    ("", "holds a header and no rows"),
])
def test_a_bad_certification_file_is_one_line_naming_file_and_row(tmp_path, body, message):
    path = tmp_path / "bad.tsv"
    path.write_text("\t".join(CERTIFY_COLUMNS) + "\n" + body)
    with pytest.raises(ValueError, match=message) as error:
        read_certification(path)
    assert "\n" not in str(error.value) and "bad.tsv" in str(error.value)

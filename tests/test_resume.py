"""Training survives a SIGKILL: the rerun resumes after the last finished epoch and ends
with the same model as an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT
from linf_smoothing.data import save_split
from test_training import tiny_data

EPOCHS = 6


def train_command(tmp_path, name, resume=True):
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--train-data", str(tmp_path / "train.npz"),
               "--test-data", str(tmp_path / "train.npz"), "--method", "trades", "--sigma", "0.25", "--epsilon", "0.1",
               "--beta", "6",
               "--attack-steps", "2", "--depth", "8", "--widths", "4", "8", "8", "--epochs", str(EPOCHS),
               "--batch-size", "32", "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "1e-4",
               "--lr-milestones", "4", "--lr-gamma", "0.1", "--crop-padding", "1", "--seed", "2", "--device", "cpu",
               "--threads", "1", "--model-out", str(tmp_path / f"{name}.pt"),
               "--metrics-out", str(tmp_path / f"{name}.tsv")]
    return command + (["--resume-state", str(tmp_path / f"{name}.resume.pt")] if resume else [])


def finished_epochs(path) -> int:
    try:
        return len(torch.load(path, weights_only=True)["history"])
    except Exception:  # not there yet
        return 0


@pytest.mark.slow
def test_kill_mid_epoch_then_resume(tmp_path):
    images, labels = tiny_data(384)
    save_split(tmp_path / "train.npz", images, labels, "digits")
    state = tmp_path / "killed.resume.pt"

    first = subprocess.Popen(train_command(tmp_path, "killed"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while finished_epochs(state) < 2 and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    done = finished_epochs(state)
    assert 2 <= done < EPOCHS, f"the kill came too late ({done} epochs finished)"
    assert not (tmp_path / "killed.pt").exists() and not (tmp_path / "killed.tsv").exists()

    second = subprocess.run(train_command(tmp_path, "killed"), capture_output=True, text=True, check=True)
    assert f"resuming after epoch {done} of {EPOCHS}" in second.stderr
    redone = [line for line in second.stderr.splitlines() if " epoch " in line and f"/{EPOCHS} lr" in line]
    assert [line.split(" epoch ")[1].split("/")[0] for line in redone] == \
        [str(e) for e in range(done + 1, EPOCHS + 1)]  # no finished epoch ran again
    assert not state.exists()  # cleaned up once the model is written

    subprocess.run(train_command(tmp_path, "straight", resume=False), capture_output=True, check=True)
    resumed = torch.load(tmp_path / "killed.pt", weights_only=True)["state_dict"]
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)["state_dict"]
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key
    assert (tmp_path / "killed.tsv").read_text().count("\n") == EPOCHS + 1


def test_a_resume_state_is_used_only_for_the_same_settings(tmp_path, caplog):
    from linf_smoothing.models import cifar_resnet
    from linf_smoothing.training import train
    from test_training import settings

    x, y = tiny_data(64)
    state = tmp_path / "state.pt"
    epochs_run = []

    def run(**changes):
        torch.manual_seed(0)
        model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
        return train(model, x, y, x, y, settings(epochs=2, **changes), torch.device("cpu"),
                     on_epoch=lambda row: epochs_run.append(row["epoch"]), resume_path=state)

    first = run()
    assert epochs_run == [0, 1] and state.exists()
    epochs_run.clear()
    assert run() == first and epochs_run == []  # same settings: both epochs are already done
    run(sigma=0.5)  # other settings: the state is not theirs
    assert epochs_run == [0, 1] and "is for another run" in caplog.text


def test_a_resume_state_of_other_data_or_architecture_or_a_foreign_file_is_ignored(tmp_path, caplog):
    import pickle

    from linf_smoothing.models import cifar_resnet
    from linf_smoothing.training import train
    from test_training import settings

    state = tmp_path / "state.pt"
    epochs_run = []

    def run(x, y, **changes):
        epochs_run.clear()
        torch.manual_seed(0)
        widths = changes.pop("widths", (4, 8, 8))
        model = cifar_resnet(8, widths, in_channels=1, num_classes=2)
        train(model, x, y, x, y, settings(epochs=1, widths=widths, **changes), torch.device("cpu"),
              on_epoch=lambda row: epochs_run.append(row["epoch"]), resume_path=state)
        return list(epochs_run)

    x, y = tiny_data(64)
    assert run(x, y) == [0]
    state_bytes = state.read_bytes()
    other_x, other_y = tiny_data(64, seed=1)  # other data, same settings
    assert run(other_x, other_y) == [0]
    state.write_bytes(state_bytes)
    assert run(x, y, widths=(4, 8, 16)) == [0]  # another architecture: no load_state_dict traceback
    for foreign in ([1, 2, 3], None):
        caplog.clear()
        if foreign is None:  # a pickle that would run code on load
            state.write_bytes(pickle.dumps(Exploit(tmp_path / "exploited")))
        else:
            torch.save(foreign, state)
        assert run(x, y) == [0]
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert not (tmp_path / "exploited").exists()


class Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))

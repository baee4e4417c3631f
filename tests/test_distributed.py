"""Data-parallel training: two CPU processes (gloo) under torchrun against one process."""
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from ddp_steps import run_steps

from conftest import ROOT
from linf_smoothing.data import save_split
from linf_smoothing.distributed import SINGLE, Replica
from test_training import tiny_data

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]), OMP_NUM_THREADS="1")


def assert_states(a: dict, b: dict, atol: float = 0.0) -> None:
    """Equal states, or within ``atol`` (and a relative 1e-5) of each other."""
    assert a.keys() == b.keys()
    for key in a:
        if atol == 0:
            assert torch.equal(a[key], b[key]), key
        else:
            torch.testing.assert_close(a[key].double(), b[key].double(), rtol=1e-5, atol=atol, msg=key)


@pytest.mark.parametrize("batch,world", [(15, 2), (16, 4), (3, 3)])
def test_rows_split_a_batch_in_order(batch, world):
    parts = [Replica(rank, world).rows(batch) for rank in range(world)]
    assert [i for part in parts for i in range(batch)[part]] == list(range(batch))


@pytest.mark.slow
def test_two_processes_take_the_step_of_one(tmp_path):
    subprocess.run([*TORCHRUN, str(ROOT / "tests" / "ddp_steps.py"), str(tmp_path)], check=True, env=ENV,
                   capture_output=True, timeout=300)
    replicas = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    for step in range(len(replicas[0])):
        assert_states(replicas[0][step], replicas[1][step])
    single = run_steps(SINGLE)
    # One step: float rounding only (the attack then amplifies it from step to step).
    assert_states(replicas[0][0], single[0], atol=1e-6)
    assert int(single[-1]["stem.1.num_batches_tracked"]) == int(replicas[0][-1]["stem.1.num_batches_tracked"]) > 0
    moved = [key for key in single[0] if not torch.equal(single[0][key], single[1][key])]
    assert "stem.0.weight" in moved and "stem.1.running_var" in moved


@pytest.mark.slow
def test_training_script_under_torchrun_matches_one_process(tmp_path):
    images, labels = tiny_data(40)
    save_split(tmp_path / "train.npz", images, labels, "digits")
    common = ["--train-data", str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "train.npz"),
              "--method", "trades", "--sigma", "0.25", "--epsilon", "0.1", "--beta", "6", "--attack-steps", "2",
              "--depth", "8",
              "--widths", "4", "8", "8", "--epochs", "2", "--batch-size", "16", "--lr", "0.1", "--momentum", "0.9",
              "--weight-decay", "1e-4", "--lr-gamma", "0.1", "--crop-padding", "1", "--seed", "3", "--device", "cpu",
              "--threads", "1"]
    for name, launcher in (("one", [sys.executable]), ("two", TORCHRUN)):
        subprocess.run([*launcher, str(ROOT / "scripts" / "train.py"), *common,
                        "--model-out", str(tmp_path / f"{name}.pt"), "--metrics-out", str(tmp_path / f"{name}.tsv"),
                        "--resume-state", str(tmp_path / f"{name}.resume.pt")],
                       check=True, env=ENV, capture_output=True, timeout=300)
    one, two = (torch.load(tmp_path / f"{name}.pt", weights_only=True) for name in ("one", "two"))
    assert one["metadata"] == two["metadata"]
    assert_states(one["state_dict"], two["state_dict"], atol=1e-3)
    metrics = [pd.read_csv(tmp_path / f"{name}.tsv", sep="\t") for name in ("one", "two")]
    pd.testing.assert_frame_equal(metrics[0].drop(columns="seconds"), metrics[1].drop(columns="seconds"),
                                  rtol=1e-4)
    assert not (tmp_path / "two.resume.pt").exists()

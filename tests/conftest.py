"""Shared fixtures: the repository's paths and configurations, small CIFAR-10 batches in
the real on-disk format, and tiny models; and the test tiers' markers (integration implies
slow) with a report of unmarked tests over the fast tier's limit."""
from __future__ import annotations

import contextlib
import io
import os
import pickle
import runpy
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

# torch's OpenMP threads wait for work by spinning. Where the tests' processes share two cores
# (snakemake's jobs, torchrun's ranks, other work), the spinning takes the CPU the others need;
# waiting passively changes no result and trained the tiny workflow's model with a fifth of the
# CPU on a busy machine. Set before torch loads its OpenMP; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import yaml  # noqa: E402

from linf_smoothing.config import merged  # noqa: F401  (the tests' overlay semantics are the workflow's)

ROOT = Path(__file__).resolve().parents[1]

# A test that takes longer than this on a quiet 2-core machine is marked slow, which keeps
# it out of the fast tier (pytest -m "not slow").
SLOW_SECONDS = 2.0


def pytest_collection_modifyitems(items):
    """Integration tests are slow tests: -m "not slow" leaves them out too."""
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.slow)


def _cpu_seconds() -> float:
    """CPU time of this process and of the subprocesses it has waited for (snakemake's jobs
    included)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


OVER_LIMIT = pytest.StashKey[list]()  # (test id, seconds) of unmarked tests over the limit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    wall, cpu = time.monotonic(), _cpu_seconds()
    try:
        return (yield)
    finally:
        # The lesser of wall-clock and CPU time: the wall clock grows when other work shares
        # the cores, the CPU time when torch runs on several threads; neither inflates both.
        seconds = min(time.monotonic() - wall, _cpu_seconds() - cpu)
        if seconds > SLOW_SECONDS and not item.get_closest_marker("slow"):
            item.config.stash.setdefault(OVER_LIMIT, []).append((item.nodeid, seconds))


def pytest_terminal_summary(terminalreporter, config):
    """Warns (does not fail: the time depends on the machine) of tests the fast tier should not hold."""
    over = config.stash.get(OVER_LIMIT, [])
    if over:
        terminalreporter.write_sep("=", f"not marked slow but over {SLOW_SECONDS:g} s", yellow=True)
        for nodeid, seconds in over:
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}")
        terminalreporter.write_line("Mark them @pytest.mark.slow, or make them smaller (docs/development-tests.md).")


def load_yaml(path: Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def paper_config() -> dict:
    return load_yaml(ROOT / "config.yaml")


@pytest.fixture
def demo_config(paper_config) -> dict:
    return merged(paper_config, load_yaml(ROOT / "profiles" / "demo" / "demo.yaml"))


def write_cifar10_batches(folder: Path, per_batch: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write data_batch_1..5 and test_batch in CIFAR-10's python-pickle format (rows of 3072
    uint8 values, channel-major); return the concatenated train images and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
        if name != "test_batch":
            train_images.append(data.reshape(-1, 3, 32, 32))
            train_labels.extend(labels)
    return np.concatenate(train_images), np.asarray(train_labels)


def run_script(script: Path, *args: str, new_process: bool = False):
    """``script`` run with ``args`` as from the command line: its exit status (``returncode``),
    ``stdout`` and ``stderr``. In this process unless ``new_process``: a new interpreter adds
    seconds of imports, and is needed only where the process is what is tested."""
    if new_process:
        return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    stdout, stderr, status = io.StringIO(), io.StringIO(), 0
    with mock.patch.object(sys, "argv", [str(script), *args]), \
            mock.patch.object(sys, "path", [str(script.parent), *sys.path]), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exit:
            status = 0 if exit.code is None else exit.code
    return SimpleNamespace(returncode=status, stdout=stdout.getvalue(), stderr=stderr.getvalue())


class ConstantClassifier(torch.nn.Module):
    """Always votes for one class, whatever the input."""

    def __init__(self, label: int, num_classes: int = 10):
        super().__init__()
        self.label, self.num_classes = label, num_classes

    def forward(self, x):
        logits = torch.zeros(x.shape[0], self.num_classes, device=x.device)
        logits[:, self.label] = 1.0
        return logits


class LinearClassifier(torch.nn.Module):
    """Two classes split by the hyperplane w.x + b = 0: class 0 where w.x + b > 0. Its smoothed
    probability of class 0 at x is Phi((w.x + b) / (sigma ||w||)) exactly."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        margin = x.flatten(1) @ self.w.flatten() + self.b
        return torch.stack([margin, torch.zeros_like(margin)], dim=1)


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A workdir where the tiny workflow configuration ran to the end, locally (shared by
    the workflow and SLURM tests)."""
    from workflow_runner import snakemake

    workdir = tmp_path_factory.mktemp("workflow")
    snakemake(workdir, "all")
    return workdir


@pytest.fixture(scope="session")
def paper_dry_run(tmp_path_factory):
    """The paper's run planned once, for the tests that read it: ``snakemake -n -p all`` on
    config.yaml alone, in an empty folder."""
    from workflow_runner import dry_run

    return dry_run(tmp_path_factory.mktemp("paper"))


@pytest.fixture
def one_thread():
    """torch on one thread for the test (reference values and timings), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""The methods profile's layout without a trained model: its 18 experiments (labels, training
methods with SmoothAdv's attacks, image sizes and sigmas, read from profiles/methods) as
certification runs of vote counts drawn at random, and as training histories with the
profile's learning-rate step."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from conftest import ROOT
from linf_smoothing.analysis import Run
from linf_smoothing.certificates import certify_many, format_counts

PROFILE = yaml.safe_load((ROOT / "profiles" / "methods" / "methods.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "profiles" / "demo" / "demo.yaml").read_text())
EXPERIMENTS = PROFILE["experiments"]
N0, N, ALPHA = DEMO["certify"]["n0"], DEMO["certify"]["n"], DEMO["certify"]["alpha"]


def training_record(exp: dict) -> dict:
    """The ``training`` settings a checkpoint of this experiment records (the attack only where
    it differs from the default, as settings.as_dict leaves it)."""
    return {"method": exp["method"], "sigma": exp["sigma"]} | (
        {"attack": exp["attack"]} if exp.get("attack", "pgd") != "pgd" else {})


def certification_run(exp: dict, images: int, seed: int) -> Run:
    """A described certification of ``images`` digits (10 classes, d = size^2) whose votes
    are drawn at random: most images unanimous, some split, some wrong."""
    rng = np.random.default_rng(seed)
    size, sigma = exp["image_size"], exp["sigma"]
    labels = rng.integers(0, 10, images)
    top = np.where(rng.random(images) < 0.9, labels, (labels + 1) % 10)
    share = np.clip(rng.beta(8, 0.4, images), 0, 1)  # the top class's probability, mostly near 1

    def votes(n):
        counts = np.zeros((images, 10), dtype=np.int64)
        top_votes = rng.binomial(n, share)
        rest = rng.multinomial(1, np.full(9, 1 / 9), images)  # the runner-up class, for the rest
        runner = (top + 1 + rest.argmax(axis=1)) % 10
        counts[np.arange(images), top] = top_votes
        counts[np.arange(images), runner] += n - top_votes
        return counts

    selection, estimation = votes(N0), votes(N)
    certificate = certify_many(selection, estimation, sigma, ALPHA, "blum", size * size)
    correct = (certificate["predict"] == labels).astype(int)
    frame = pd.DataFrame({"idx": np.arange(images), "label": labels, "predict": certificate["predict"],
                          "radius": certificate["radius_linf"], "correct": correct, "time": 0.1})
    for column in ("radius_l2", "pa_lower", "pb_upper", "count_a", "count_b"):
        frame[column] = certificate[column]
    frame["selection_counts"] = [format_counts(c) for c in selection]
    frame["estimation_counts"] = [format_counts(c) for c in estimation]
    description = {"variant": "blum", "sigma": sigma, "dimension": size * size, "n": N, "alpha": ALPHA,
                   "n0": N0, "dataset": "digits", "image_size": size, "architecture": {"depth": 8},
                   "training_method": exp["method"], "training": training_record(exp)}
    return Run(Path(f"{exp['name']}.tsv"), frame, description, sigma, size * size, N, ALPHA)


def methods_profile_runs(images: int = 60) -> dict[str, Run]:
    return {exp["name"]: certification_run(exp, images, seed) for seed, exp in enumerate(EXPERIMENTS)}


def training_history(exp: dict, seed: int) -> pd.DataFrame:
    """The profile's schedule (its epochs, lr and milestone) with curves drawn at random."""
    rng = np.random.default_rng(seed)
    schedule = DEMO["training"]
    epochs = schedule["epochs"]
    lr = [schedule["lr"] * schedule["lr_gamma"] ** sum(e >= m for m in schedule["lr_milestones"])
          for e in range(epochs)]
    progress = 1 - np.exp(-np.arange(1, epochs + 1) / 4)
    return pd.DataFrame({"epoch": range(epochs), "lr": lr,
                         "train_loss": 2.3 - 1.5 * progress + rng.normal(0, 0.03, epochs),
                         "train_accuracy_noisy": 0.1 + 0.8 * progress, "test_accuracy_noisy": 0.1 + 0.75 * progress,
                         "test_accuracy_clean": 0.1 + 0.85 * progress, "seconds": 1.0})

"""The training methods beyond TRADES and Gaussian augmentation (smoothadv, consistency,
macer): their configuration, their draws, the warm-up, MACER's saturated terms, attacks that
build no weight gradients, and a short training of each. Equality with the authors' code is
``test_methods_reference.py``'s."""
from __future__ import annotations

import argparse
import copy
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ddp_steps import METHOD_SETTINGS, run_steps
from test_distributed import ENV, TORCHRUN, assert_states

from linf_smoothing import methods as methods_module
from linf_smoothing.config import merged, train_settings, validate_config
from linf_smoothing.distributed import SINGLE
from linf_smoothing.errors import ConfigError
from linf_smoothing.macer import macer_terms
from linf_smoothing.methods import METHODS
from linf_smoothing.models import cifar_resnet
from linf_smoothing.settings import TrainSettings, add_arguments, as_dict, from_arguments, to_arguments
from linf_smoothing.smoothadv import ddn_attack, pgd_attack, warmed_up_epsilon
from linf_smoothing.training import train, train_step

ROOT = Path(__file__).resolve().parents[1]

NEW_METHODS = {
    "smoothadv": {"epsilon": 0.5, "attack_steps": 2, "noise_copies": 2, "attack": "ddn", "warmup_epochs": 10},
    "consistency": {"noise_copies": 2, "consistency_lambda": 10.0},
    "macer": {"noise_copies": 4, "macer_lambda": 12.0},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _settings(**changes) -> TrainSettings:
    base = dict(method="gaussian", depth=8, widths=(4, 4, 4), sigma=0.25, epochs=1, batch_size=16, lr=0.05,
                momentum=0.9, weight_decay=1e-4, lr_gamma=0.1, crop_padding=1, seed=1)
    base.update(changes)
    return TrainSettings(**base)


@pytest.mark.parametrize("method", list(NEW_METHODS))
def test_each_method_is_configured_by_its_own_keys(paper_config, method):
    experiment = {"name": f"size32_{method}", "method": method, "image_size": 32, "sigma": 0.12, "skip": 1,
                  **NEW_METHODS[method]}
    paper_config["experiments"].append(experiment)
    validate_config(paper_config)
    settings = train_settings(paper_config, experiment["name"])
    assert settings.method == method
    for key, value in NEW_METHODS[method].items():
        assert getattr(settings, key) == value
    # each required key is required
    for key in {"smoothadv": ["epsilon", "attack_steps", "noise_copies", "attack"],
                "consistency": ["noise_copies", "consistency_lambda"],
                "macer": ["noise_copies", "macer_lambda"]}[method]:
        broken = copy.deepcopy(paper_config)
        del broken["experiments"][-1][key]
        with pytest.raises(ConfigError, match="config key experiments\\[3\\]"):
            validate_config(broken)
    # another method's key is refused
    other = {"smoothadv": ("macer_gamma", 8.0), "consistency": ("attack", "pgd"), "macer": ("beta", 6.0)}[method]
    paper_config["experiments"][-1][other[0]] = other[1]
    with pytest.raises(ConfigError, match="config key experiments\\[3\\]"):
        validate_config(paper_config)


def test_trades_refuses_the_other_methods_keys(paper_config):
    paper_config["experiments"][0]["noise_copies"] = 4
    with pytest.raises(ConfigError, match="config key experiments\\[0\\]"):
        validate_config(paper_config)


def test_new_settings_leave_existing_identities_unchanged():
    """A TRADES or Gaussian training's identity (resume state, checkpoint metadata) holds the
    same keys as before the new methods; their settings appear only where they are set."""
    before = {"sigma", "depth", "widths", "epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_gamma",
              "crop_padding", "seed", "method", "lr_milestones", "mixed_precision", "epsilon", "beta",
              "attack_steps"}
    assert set(as_dict(_settings(method="trades", epsilon=0.4, beta=6.0, attack_steps=10))) == before
    assert set(as_dict(_settings(method="macer", noise_copies=16, macer_lambda=12.0))) == before | {
        "noise_copies", "macer_lambda"}


def test_settings_round_trip_through_the_command_line():
    settings = _settings(method="smoothadv", epsilon=1.0, attack_steps=4, noise_copies=4, attack="ddn",
                         warmup_epochs=10, ddn_gamma=0.1)
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainSettings)
    assert from_arguments(TrainSettings, parser.parse_args(shlex.split(to_arguments(settings)))) == settings


def test_the_loop_noise_is_the_first_copy_and_the_rest_are_drawn_for_the_global_batch():
    settings = _settings(method="macer", noise_copies=3)
    x = torch.rand(6, 3, 4, 4)
    drawn = METHODS["macer"].draw(x, settings, torch.Generator().manual_seed(0))
    assert drawn.shape == (6, 2, 3, 4, 4)
    assert drawn.std().item() == pytest.approx(0.25, rel=0.2)
    eta = torch.randn_like(x)
    noise = METHODS["macer"].noise(eta[2:4], drawn[2:4])  # a process's rows of both
    assert torch.equal(noise[:, 0], eta[2:4]) and torch.equal(noise[:, 1:], drawn[2:4])
    assert METHODS["macer"].draw(x, _settings(method="macer", noise_copies=1), None) is None


def test_smoothadv_warms_the_radius_up_from_the_epoch(monkeypatch):
    assert [warmed_up_epsilon(1.0, epoch, 4) for epoch in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmed_up_epsilon(0.5, 0, 1) == 0.5
    seen = []

    def spy(model, x, y, noise, epsilon, *args):
        seen.append(epsilon)
        return model(x + noise[:, 0]).sum() * 0, x

    monkeypatch.setattr(methods_module, "smoothadv_loss", spy)
    settings = _settings(method="smoothadv", epsilon=0.8, attack_steps=1, noise_copies=2, warmup_epochs=4)
    model = cifar_resnet(8, (4, 4, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    for epoch in (0, 1, 5):
        train_step(model, optimizer, images, torch.zeros(4, dtype=torch.int64), settings, epoch=epoch)
    assert seen == pytest.approx([0.2, 0.4, 0.8])


def test_macer_defers_lambda(monkeypatch):
    seen = []

    def spy(model, x, y, noise, sigma, lbd, *args):
        seen.append(lbd)
        return model(x + noise[:, 0]).sum() * 0

    monkeypatch.setattr(methods_module, "macer_loss", spy)
    settings = _settings(method="macer", noise_copies=2, macer_lambda=12.0, macer_deferred_epochs=2)
    model = cifar_resnet(8, (4, 4, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    for epoch in (0, 1, 2, 3):
        train_step(model, optimizer, images, torch.zeros(4, dtype=torch.int64), settings, epoch=epoch)
    assert seen == [0.0, 0.0, 12.0, 12.0]


@pytest.mark.parametrize("attack", [pgd_attack, ddn_attack])
def test_attacks_build_no_weight_gradients_and_stay_in_the_ball(attack):
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 4, 4)).eval()
    x, y = torch.rand(4, 3, 8, 8), torch.randint(0, 10, (4,))
    noise = 0.25 * torch.randn(4, 3, 3, 8, 8)
    x_adv = attack(model, x, y, noise, 0.5, 3)
    assert all(p.grad is None for p in model.parameters())
    assert not x_adv.requires_grad
    # DDN quantizes after projecting, so its norm may pass the radius by half a level per pixel
    assert (x_adv - x).flatten(1).norm(dim=1).max().item() <= 0.5 + 0.5 / 255 * np.sqrt(192)


def test_macer_drops_only_saturated_terms_whose_hinge_is_zero():
    """A term whose top probability rounds to 1 has xi = +inf and hinge 0: the loss and the
    gradient stay finite, and equal those without that image's robustness term."""
    logits = torch.zeros(2, 4, 10)
    logits[0, :, 3] = 40.0  # beta * logits saturates: q1 = 1 in float32
    logits[1, :, 5] = 0.2  # inside the hinge
    logits.requires_grad_(True)
    y = torch.tensor([3, 5])
    loss, _, robustness = macer_terms(logits, y, 0.25, 12.0, 8.0, 16.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert robustness.item() > 0
    # image 0's robustness term contributes nothing: its gradient is the cross-entropy's alone
    alone = logits.detach()[:1].clone().requires_grad_(True)
    (macer_terms(alone, y[:1], 0.25, 12.0, 8.0, 16.0)[0] * 0.5).backward()
    assert torch.allclose(logits.grad[0], alone.grad[0])


def _tiny_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = (rng.integers(0, 80, (n, 1, 6, 6)) + 150 * labels[:, None, None, None]).astype(np.uint8)
    return images, labels.astype(np.int64)


@pytest.mark.parametrize("method, keys", [
    ("smoothadv", {"epsilon": 0.3, "attack_steps": 2, "noise_copies": 2, "attack": "pgd", "warmup_epochs": 2}),
    ("smoothadv", {"epsilon": 0.3, "attack_steps": 2, "noise_copies": 2, "attack": "ddn"}),
    ("consistency", {"noise_copies": 2, "consistency_lambda": 10.0}),
    ("macer", {"noise_copies": 4, "macer_lambda": 12.0}),
])
def test_each_method_trains_and_repeats_with_a_seed(method, keys):
    x, y = _tiny_data()
    settings = _settings(method=method, epochs=2, **keys)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = cifar_resnet(8, (4, 4, 4), in_channels=1, num_classes=2)
        history = train(model, x, y, x, y, settings, torch.device("cpu"))
        assert all(np.isfinite(row["train_loss"]) for row in history)
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_the_methods_overlay_is_valid_with_every_method_at_three_sizes(demo_config):
    config = merged(demo_config, yaml.safe_load((ROOT / "profiles" / "methods" / "methods.yaml").read_text()))
    validate_config(config)
    sizes = {}
    for experiment in config["experiments"]:
        settings = train_settings(config, experiment["name"])
        key = settings.method + (f"-{settings.attack}" if settings.method == "smoothadv" else "")
        sizes.setdefault(key, set()).add(experiment["image_size"])
    assert sizes == {name: {8, 12, 16} for name in
                     ["trades", "gaussian", "smoothadv-pgd", "smoothadv-ddn", "consistency", "macer"]}
    # the demo's and the baseline's experiments are repeated unchanged, so they are not retrained
    assert config["experiments"][:3] == demo_config["experiments"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["smoothadv", "macer"])
def test_two_processes_take_the_step_of_one(tmp_path, method):
    """Data-parallel training with m noise copies: two CPU processes (gloo) under torchrun stay
    identical and take one process's steps (up to float rounding), as test_distributed checks
    for TRADES."""
    subprocess.run([*TORCHRUN, str(ROOT / "tests" / "ddp_steps.py"), str(tmp_path), method], check=True, env=ENV,
                   capture_output=True, timeout=300)
    replicas = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    for step in range(len(replicas[0])):
        assert_states(replicas[0][step], replicas[1][step])
    single = run_steps(SINGLE, METHOD_SETTINGS[method])
    assert_states(replicas[0][0], single[0], atol=1e-6)

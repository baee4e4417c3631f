import logging
import re

import numpy as np
import pytest
import torch

from linf_smoothing.models import cifar_resnet
from linf_smoothing.noises import Gaussian
from linf_smoothing.settings import TrainSettings
from linf_smoothing.training import METRIC_COLUMNS, accuracy, train


def settings(**changes):
    base = dict(method="trades", depth=8, widths=(4, 8, 8), sigma=0.25, epsilon=0.1, beta=6.0, attack_steps=2,
                epochs=3, batch_size=32, lr=0.1,
                momentum=0.9, weight_decay=1e-4, lr_milestones=(2,), lr_gamma=0.1, crop_padding=1, seed=1)
    base.update(changes)
    return TrainSettings(**base)


def tiny_data(n=64, seed=0):
    """Two classes that differ in brightness: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = (rng.integers(0, 80, (n, 1, 6, 6)) + 150 * labels[:, None, None, None]).astype(np.uint8)
    return images, labels.astype(np.int64)


def test_step_schedule_and_metrics():
    x, y = tiny_data()
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    history = train(model, x, y, x, y, settings(), torch.device("cpu"))
    assert [row["lr"] for row in history] == pytest.approx([0.1, 0.1, 0.01])
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert all(set(METRIC_COLUMNS) == set(row) for row in history)
    assert all(0 <= row["test_accuracy_noisy"] <= 1 for row in history)


def test_training_is_repeatable_with_a_seed():
    x, y = tiny_data()
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
        train(model, x, y, x, y, settings(epochs=1), torch.device("cpu"))
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_gaussian_augmentation_learns_the_task():
    x, y = tiny_data(128)
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    train(model, x, y, x, y, settings(beta=0.0, attack_steps=0, epochs=4, lr_milestones=()), torch.device("cpu"))
    images = torch.from_numpy(x)
    assert accuracy(model, images, torch.from_numpy(y), Gaussian(0.25, images[0].numel()), 64) > 0.9


def test_gaussian_method_is_trades_without_its_robust_term():
    """Gaussian augmentation (method: gaussian) minimizes CE(f(x + eta), y), which is TRADES'
    loss at beta = 0: one epoch of each from the same start gives the same weights."""
    x, y = tiny_data()
    states = []
    for changes in ({"method": "gaussian", "epsilon": 0.0, "beta": 0.0, "attack_steps": 0},
                    {"method": "trades", "beta": 0.0, "attack_steps": 0}):
        torch.manual_seed(0)
        model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
        train(model, x, y, x, y, settings(epochs=1, **changes), torch.device("cpu"))
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_an_unknown_method_stops_before_training():
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="unknown training method 'mart'"):
        train(cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2), x, y, x, y, settings(method="mart"),
              torch.device("cpu"))


def test_training_shows_its_progress_within_each_epoch_when_asked(monkeypatch, caplog):
    """With lines allowed at any time: one per 5% of an epoch's batches (here per batch, 64
    images in batches of 8), none at 100%; and none unless asked (the library's default)."""
    from linf_smoothing import progress

    monkeypatch.setattr(progress, "LOG_MIN_SECONDS", 0.0)
    x, y = tiny_data()
    caplog.set_level(logging.INFO, "train")
    for asked in (False, True):
        caplog.clear()
        train(cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2), x, y, x, y,
              settings(method="gaussian", epsilon=0.0, beta=0.0, attack_steps=0, epochs=2, batch_size=8,
                       lr_milestones=()), torch.device("cpu"), progress=asked)
        lines = [r.getMessage() for r in caplog.records if r.name == "train"]
        assert len(lines) == (14 if asked else 0)
    assert [line.split(" batches")[0] for line in lines[:8]] == [f"epoch 1/2: {k}/8" for k in range(1, 8)] + [
        "epoch 2/2: 1/8"]
    assert re.fullmatch(r"epoch 1/2: 4/8 batches \(50%\), [\d,.]+ images/s, 0:00:\d\d left", lines[3]), lines[3]

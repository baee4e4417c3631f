"""The FLOP counts of ``linf_smoothing.costs`` (benchmarks/estimate_gpu_hours.py's GPU hours, the
CPU-time check of ``device: auto``) against closed forms written from the architecture and the
textbook, not from the code under test."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from linf_smoothing.costs import sampling_flops, training_step_flops
from linf_smoothing.settings import TrainSettings


def conv_flops(c_in: int, c_out: int, k: int, h: int, w: int) -> int:
    """The textbook count of a convolution's forward pass: 2 c_in c_out k^2 H_out W_out."""
    return 2 * c_in * c_out * k * k * h * w


def resnet_forward_flops(depth: int, widths: tuple[int, int, int], size: int, c_in: int = 3, classes: int = 10) -> int:
    """A CIFAR ResNet (He et al. 2016, section 4.2): a 3x3 stem, three stages of (depth - 2) / 6
    basic blocks (two 3x3 convolutions each), stride 2 and a 1x1 projection shortcut where a stage
    starts with more channels, global pooling, a linear layer."""
    blocks = (depth - 2) // 6
    total = conv_flops(c_in, widths[0], 3, size, size)
    planes_in = widths[0]
    for stage, planes in enumerate(widths):
        for block in range(blocks):
            if stage > 0 and block == 0:
                size //= 2
                total += conv_flops(planes_in, planes, 1, size, size)  # the projection shortcut
            total += conv_flops(planes_in, planes, 3, size, size) + conv_flops(planes, planes, 3, size, size)
            planes_in = planes
    return total + 2 * widths[-1] * classes


def test_a_convolution_counts_two_flops_per_multiply_add():
    conv = torch.nn.Conv2d(5, 7, 3, padding=1, bias=False)
    with FlopCounterMode(display=False) as counter:
        conv(torch.zeros(1, 5, 12, 12))
    assert counter.get_total_flops() == conv_flops(5, 7, 3, 12, 12)


@pytest.mark.parametrize(("depth", "size"), [(8, 16), (110, 32)])
def test_the_sampling_forward_is_the_networks_closed_form(depth, size):
    assert sampling_flops(depth, (16, 32, 64), size) == resnet_forward_flops(depth, (16, 32, 64), size)


def settings(method: str, **keys) -> TrainSettings:
    return TrainSettings(sigma=0.25, depth=8, widths=(4, 8, 16), epochs=1, batch_size=2, lr=0.1, momentum=0.9,
                         weight_decay=0.0, lr_gamma=0.1, crop_padding=1, seed=0, method=method, **keys)


@pytest.mark.parametrize(("method", "keys", "copies"), [
    ("gaussian", {}, 1),
    ("consistency", {"noise_copies": 2, "consistency_lambda": 10.0}, 2),
    ("macer", {"noise_copies": 4, "macer_lambda": 12.0}, 4),
])
def test_a_training_step_is_a_forward_and_a_backward_per_noisy_copy(method, keys, copies):
    """Forward + backward (gradients of the input and of the weights, 2 forwards) = 3 forwards per
    copy, less the stem's input gradient, which no step needs."""
    widths, size = (4, 8, 16), 12
    forward = resnet_forward_flops(8, widths, size)
    stem_input_gradient = conv_flops(3, widths[0], 3, size, size)
    per_image = training_step_flops(settings(method, **keys), size, batch=2)
    assert per_image == copies * (3 * forward - stem_input_gradient)

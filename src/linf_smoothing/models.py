"""The CIFAR ResNet of He et al. (2016), as used by the paper (ResNet-110).

Depth 6n + 2: a 3x3 stem, three stages of n BasicBlocks at the given widths (stride 2 at the
start of stages 2 and 3), global *adaptive* average pooling so that 32, 48 and 64 pixel
inputs all work, and a linear layer. The paper's network has no input normalization: it
reads noisy [0, 1] pixels directly. A model imported from Cohen et al.'s or Salman et al.'s
releases standardizes its input first (``normalize``: per-channel mean and standard
deviation), as theirs does, so that the noise is still added to [0, 1] pixels.
"""
from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Normalize(nn.Module):
    """(x - mean) / std per channel, with the statistics as buffers (saved in checkpoints)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class CifarResNet(nn.Module):
    def __init__(self, depth: int, widths: tuple[int, int, int], in_channels: int, num_classes: int,
                 normalize: dict | None = None):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        self.normalize = nn.Identity() if normalize is None else Normalize(normalize["mean"], normalize["std"])
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, in_planes = [], widths[0]
        for stage, planes in enumerate(widths):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(self.normalize(x)))), 1))


def cifar_resnet(depth: int = 110, widths=(16, 32, 64), in_channels: int = 3, num_classes: int = 10,
                 normalize: dict | None = None) -> CifarResNet:
    """The CIFAR ResNet; ``normalize`` ({"mean": [...], "std": [...]}) puts a standardization first."""
    return CifarResNet(depth, tuple(widths), in_channels, num_classes, normalize)


def memory_format_for(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA, where convolutions run faster in it. On the CPU, torch 2.13's
    channels_last training crashed with heap corruption in multi-threaded runs of small
    ResNets here (4 of 6 runs at 2 threads, none contiguous), so the CPU stays contiguous."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def inference_model(model: nn.Module, device: torch.device, compile: bool = False) -> nn.Module:
    """``model`` ready for sampling: eval mode, on ``device`` in its preferred memory format,
    and optionally compiled with ``torch.compile`` (a one-off cost of about 40 s for
    ResNet-110 on a CPU, repaid many times over in a certification run)."""
    model = model.eval().to(device).to(memory_format=memory_format_for(device))
    return torch.compile(model, dynamic=False) if compile else model


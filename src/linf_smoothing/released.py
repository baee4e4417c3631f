"""Checkpoints released by others, converted into this project's checkpoint format.

Facts read from the public code of each project (not its code):

- ``original`` (hongyanz/TRADES-smoothing, ``model-res110-epoch.pt``): ``torch.save`` of the
  state dict of ``nn.DataParallel(resnet(depth=110, num_classes=10))``, the CIFAR ResNet of
  bearpaw/pytorch-classification, so every key starts with ``module.``. Layers: ``conv1``,
  ``bn1``, ``layer1``..``layer3`` (BasicBlocks ``conv1 bn1 conv2 bn2`` and, where the shape
  changes, ``downsample.0`` (1x1 convolution) and ``downsample.1`` (BatchNorm)), adaptive
  average pooling, ``fc``. No normalization layer: the network reads [0, 1] pixels.
- ``cohen`` (locuslab/smoothing, and Salman et al.'s Hadisalman/smoothing-adversarial, which
  keeps its layout): a dict with ``arch`` (``cifar_resnet110`` / ``cifar_resnet20``),
  ``state_dict`` and the optimizer's state; the network is ``nn.Sequential(NormalizeLayer,
  resnet)``, so the ResNet's keys start with ``1.``. The normalization (CIFAR-10's channel
  means 0.4914 0.4822 0.4465, standard deviations 0.2023 0.1994 0.2010) keeps its statistics
  as plain attributes, not in the state dict. The same bearpaw ResNet, but with
  ``AvgPool2d(8)``: global average pooling at 32x32 inputs only, so the import records
  ``requires_image_size: 32`` and certification refuses other sizes.

Their BasicBlock computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) like ours, so
renaming the keys gives a model that computes the same function.
"""
from __future__ import annotations

import re

import torch

from linf_smoothing.errors import CheckpointError

FORMATS = ("original", "cohen")
CIFAR10_NORMALIZATION = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]}
_OURS = {"conv1": "stem.0", "bn1": "stem.1", "fc": "fc"}


def _renamed(state: dict[str, torch.Tensor], blocks: int) -> dict[str, torch.Tensor]:
    """bearpaw CIFAR ResNet keys (without prefix) to ours."""
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        block = re.fullmatch(r"layer([123])\.(\d+)\.(.+)", key)
        if block:
            stage, index, rest = int(block.group(1)), int(block.group(2)), block.group(3)
            rest = rest.replace("downsample.", "shortcut.")
            out[f"stages.{(stage - 1) * blocks + index}.{rest}"] = value
        elif head in _OURS:
            out[f"{_OURS[head]}.{rest}"] = value
        else:
            raise CheckpointError(f"unexpected key {key!r} for a bearpaw CIFAR ResNet")
    return out


def _architecture(state: dict[str, torch.Tensor]) -> dict:
    blocks = 1 + max(int(m.group(1)) for k in state if (m := re.fullmatch(r"layer1\.(\d+)\..+", k)))
    widths = [int(state[f"layer{s}.0.conv1.weight"].shape[0]) for s in (1, 2, 3)]
    return {"depth": 6 * blocks + 2, "widths": widths}


def convert(checkpoint, form: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Our state dict and metadata (architecture, channels, classes, image size if fixed) for a
    loaded checkpoint in format ``form``; CheckpointError names what does not fit."""
    if form not in FORMATS:
        raise CheckpointError(f"unknown checkpoint format {form!r}; choose one of {', '.join(FORMATS)}")
    if form == "original":
        if not isinstance(checkpoint, dict) or not all(k.startswith("module.") for k in checkpoint):
            raise CheckpointError("not the original's checkpoint: expected the state dict of an nn.DataParallel "
                                  "ResNet, every key starting with 'module.' (did you mean --format cohen?)")
        state = {k.removeprefix("module."): v for k, v in checkpoint.items()}
        normalize, image_size = None, None
    else:
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise CheckpointError("not a Cohen et al. checkpoint: expected a dict with 'arch' and 'state_dict' "
                                  "(did you mean --format original?)")
        arch = checkpoint.get("arch", "")
        if not str(arch).startswith("cifar_resnet"):
            raise CheckpointError(f"architecture {arch!r} is not a CIFAR ResNet (cifar_resnet20 or cifar_resnet110)")
        state = {k.removeprefix("1."): v for k, v in checkpoint["state_dict"].items() if k.startswith("1.")}
        normalize, image_size = CIFAR10_NORMALIZATION, 32
    try:
        architecture = _architecture(state)
        converted = _renamed(state, (architecture["depth"] - 2) // 6)
        metadata = {"architecture": dict(architecture, normalize=normalize),
                    "in_channels": int(state["conv1.weight"].shape[1]),
                    "num_classes": int(state["fc.weight"].shape[0]), "requires_image_size": image_size}
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"not a bearpaw CIFAR ResNet state dict ({exc})") from None
    if normalize is not None:
        for name in ("mean", "std"):
            converted[f"normalize.{name}"] = torch.tensor(normalize[name]).view(1, -1, 1, 1)
    return converted, metadata

"""Where torch computes: the one place a device name from the configuration becomes a device."""
from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when present, else the CPU; 'cuda' without a visible GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is visible: set device: auto or cpu")
    return torch.device(name)

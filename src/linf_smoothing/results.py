"""The project's file formats, each with one writer and one reader.

- Certification TSV: the original's columns ``idx label predict radius correct time``
  (``radius`` is the l-inf radius at full precision, ``predict`` is -1 on abstention,
  ``time`` in seconds) followed by ``radius_l2 pa_lower pb_upper count_a count_b``.
  The reader also takes the original's and Cohen et al.'s six-column files, whose ``time``
  is a timedelta string such as ``0:00:06.620000``.
- Checkpoints: a dict of tensors and plain values, loaded with ``weights_only=True`` so a
  malicious pickle cannot run code.

Every writer goes through ``atomic_path``: a killed job leaves a ``.tmp`` file, never a
file under the final name that looks complete.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pandas as pd
import torch

CERTIFY_COLUMNS = ["idx", "label", "predict", "radius", "correct", "time"]
CERTIFY_EXTRA_COLUMNS = ["radius_l2", "pa_lower", "pb_upper", "count_a", "count_b"]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why and what to do."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CertificationWriter:
    """Streams certification rows to ``path.tmp`` (readable with ``tail -f``) and moves the
    file into place on ``close``; use as a context manager."""

    def __init__(self, path: Path):
        self._context = atomic_path(path)
        self._handle = open(self._context.__enter__(), "w", buffering=1)
        self._handle.write("\t".join(CERTIFY_COLUMNS + CERTIFY_EXTRA_COLUMNS) + "\n")

    def write(self, idx: int, label: int, cert, seconds: float) -> None:
        fields = [idx, label, cert.predict, repr(float(cert.radius_linf)), int(cert.predict == label),
                  f"{seconds:.4f}", repr(float(cert.radius_l2)), repr(float(cert.pa_lower)),
                  repr(float(cert.pb_upper)), cert.count_a, cert.count_b]
        self._handle.write("\t".join(str(f) for f in fields) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()
        self._context.__exit__(*exc_info)
        return False


def read_certification(path: Path) -> pd.DataFrame:
    """Read a certification file (ours, the original's or Cohen et al.'s); ``time`` in seconds."""
    frame = pd.read_csv(path, sep="\t")
    missing = [c for c in CERTIFY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a certification file: columns {missing} are missing")
    if not pd.api.types.is_numeric_dtype(frame["time"]):
        frame["time"] = pd.to_timedelta(frame["time"]).dt.total_seconds()
    frame["correct"] = frame["correct"].astype(int)
    return frame


def save_checkpoint(path: Path, model: torch.nn.Module, metadata: dict) -> None:
    """Save the model's weights with the metadata that rebuilds it (architecture, sizes, sigma)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "metadata": dict(metadata)}, tmp)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without running any pickled code; raise CheckpointError if unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} is missing: run the train rule that makes it.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is not a loadable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}): delete it and retrain.") from exc
    if not isinstance(checkpoint, dict) or not {"state_dict", "metadata"} <= checkpoint.keys():
        raise CheckpointError(f"{path} is not a checkpoint of this project: delete it and retrain.")
    return checkpoint


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint describes and load its weights (eval mode)."""
    from linf_smoothing.models import cifar_resnet

    checkpoint = load_checkpoint(path)
    meta = checkpoint["metadata"]
    try:
        model = cifar_resnet(**meta["architecture"], in_channels=meta["in_channels"],
                             num_classes=meta["num_classes"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path} does not match its declared architecture "
                              f"({str(exc).splitlines()[0]}): delete it and retrain.") from exc
    return model.to(device).eval(), meta

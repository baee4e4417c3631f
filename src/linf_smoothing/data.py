"""Datasets, resizing, stored arrays and augmentation.

Images travel as uint8 arrays of shape (N, C, H, W) with int64 labels. Pixels become floats
in [0, 1] only on the device, and no normalization is applied: the smoothing noise is added
to raw [0, 1] pixels, as in the paper.

The original resizes each PIL image on the fly with torchvision's ``Resize`` (bilinear,
antialiased when shrinking). ``resize_images`` does the same once per size, on whole batches.

A resized split is stored with its description beside it (``FILE.npz.json``: dataset, split,
image size, image count and the file's SHA-256), and read only if it is what that says
(``read_split``); the workflow checks the same without loading the arrays when it plans a run
(``checks.split_damage``).
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from linf_smoothing.checks import file_digest, split_description_path
from linf_smoothing.datasets import DATASETS
from linf_smoothing.errors import DataError
from linf_smoothing.results import atomic_path

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_FILES = ["test_batch"]


def download_cifar10(root: Path) -> Path:
    """Download CIFAR-10 into ``root``, verify its md5 and extract it; return the batch folder.

    An archive already at ``root/cifar-10-python.tar.gz`` with the right checksum is used as
    it is, which is how an offline machine gets the data.
    """
    from torchvision.datasets import utils

    root = Path(root)
    archive = root / CIFAR10_ARCHIVE
    where = (f"copy {CIFAR10_ARCHIVE} (md5 {CIFAR10_ARCHIVE_MD5}, from {CIFAR10_URL}) to {archive} "
             "and run again")
    if not utils.check_integrity(str(archive), CIFAR10_ARCHIVE_MD5):
        try:
            utils.download_url(CIFAR10_URL, str(root), filename=CIFAR10_ARCHIVE, md5=CIFAR10_ARCHIVE_MD5)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise DataError(f"could not download CIFAR-10 ({exc}): on a machine without internet, {where}.") from exc
        if not utils.check_integrity(str(archive), CIFAR10_ARCHIVE_MD5):
            raise DataError(f"{archive} fails its md5 check (corrupt or incomplete): delete it, then {where}.")
    utils.extract_archive(str(archive), str(root))
    return root / CIFAR10_FOLDER


def load_cifar10(batch_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10's python-pickle batches: uint8 images (N, 3, 32, 32) and int64 labels."""
    files = {"train": CIFAR10_TRAIN_FILES, "test": CIFAR10_TEST_FILES}[split]
    images, labels = [], []
    for name in files:
        path = Path(batch_dir) / name
        try:
            with open(path, "rb") as handle:
                batch = pickle.load(handle, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        except FileNotFoundError as exc:
            raise DataError(f"{path} is missing: run the download rule (snakemake download_cifar10) "
                            "or extract cifar-10-python.tar.gz there.") from exc
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path} is not a CIFAR-10 batch ({exc}): delete {Path(batch_dir)} "
                            "and download again.") from exc
        images.append(data.reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def load_digits(split: str, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 handwritten digits as uint8 (N, 1, 8, 8), a fixed split.

    The 0..16 intensities are stretched to 0..255. The split is stratified and seeded, so
    every size and every run sees the same test images.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    return (train_x, train_y) if split == "train" else (test_x, test_y)


def load_split(dataset: str, split: str, data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "cifar10":
        return load_cifar10(Path(data_dir) / "cifar10" / CIFAR10_FOLDER, split)
    if dataset == "digits":
        return load_digits(split)
    raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def resize_images(images: np.ndarray, size: int, batch_size: int = 4096) -> np.ndarray:
    """Bilinear resize of uint8 (N, C, H, W) images to (N, C, size, size), as PIL does it.

    torchvision's antialiased bilinear resize of uint8 tensors follows PIL's filter, so the
    result matches ``transforms.Resize(size)`` on a PIL image within one intensity level.
    A batch already at ``size`` is returned unchanged.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    # Imported here: torchvision.transforms.v2 imports torchvision.models (about 1 s of CPU,
    # more than torch itself), which every train, certify and predict process would pay.
    from torchvision.transforms.v2 import functional as F

    out = np.empty(images.shape[:2] + (size, size), dtype=np.uint8)
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(images[start:start + batch_size])
        out[start:start + batch_size] = F.resize(
            chunk, [size, size], interpolation=F.InterpolationMode.BILINEAR, antialias=True).numpy()
    return out


def save_split(path: Path, images: np.ndarray, labels: np.ndarray, dataset: str, split: str | None = None) -> None:
    """Write a resized split (uint8 images, int64 labels, the dataset's name) atomically, and its
    description (``split``: train or test, where known)."""
    path = Path(path)
    split_description_path(path).unlink(missing_ok=True)  # never a description of the file replaced
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, images=images, labels=labels, dataset=np.asarray(dataset))
        digest = file_digest(tmp)
    description = {"dataset": dataset, "split": split, "image_size": int(images.shape[-1]),
                   "channels": int(images.shape[1]), "images": len(images), "sha256": digest}
    with atomic_path(split_description_path(path)) as tmp:
        tmp.write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")


def read_split_description(path: Path) -> dict | None:
    """The description ``save_split`` wrote beside a resized split (None for a split of a version
    that wrote none)."""
    try:
        return json.loads(split_description_path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataError(f"{split_description_path(path)} is not a split's description ({exc}): delete {path} and "
                        "it, and rerun the resize rule.") from None


def read_split(path: Path, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A resized split's images and labels, refused (one line) where the file is missing,
    unreadable or cut short, or is not what its description says (its digest, its image count
    and size, or another ``split`` than the one asked for)."""
    fix = f"delete {path} (and {split_description_path(path).name}) and rerun the resize rule."
    try:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    except FileNotFoundError as exc:
        raise DataError(f"{path} is missing: run the resize rule that makes it.") from exc
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a resized split ({type(exc).__name__}: {exc}): {fix}") from None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
        raise DataError(f"{path} holds arrays of the wrong shape or type: {fix}")
    description = read_split_description(path)
    if description is not None:
        if description.get("sha256") != file_digest(path):
            raise DataError(f"{path}: its bytes are not the ones its description {split_description_path(path).name} "
                            f"was written for (the file was edited or replaced): {fix}")
        if (description.get("images"), description.get("image_size")) != (len(images), images.shape[-1]):
            raise DataError(f"{path} holds {len(images)} images of {images.shape[-1]} pixels where its description "
                            f"says {description.get('images')} of {description.get('image_size')}: {fix}")
        if split is not None and description.get("split") not in (None, split):
            raise DataError(f"{path} is the {description['split']} split where the {split} split is needed: give "
                            f"the {split} split")
    return images, labels


def read_dataset_name(path: Path) -> str | None:
    """The dataset a resized split was made from (None for a split saved without its name)."""
    try:
        with np.load(path) as archive:
            return str(archive["dataset"]) if "dataset" in archive.files else None
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a resized split ({type(exc).__name__}: {exc}): delete it and rerun the "
                        "resize rule.") from None


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to floats in [0, 1] (no normalization: the network reads x + noise)."""
    return images.float().div_(255.0)


def random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip, per image, on a batch.

    Works on whole (B, C, H, W) batches on the batch's own device, drawing the crop offsets
    and flips from ``generator``.
    """
    b, _, h, w = x.shape
    device = x.device
    if padding > 0:
        padded = torch.nn.functional.pad(x, (padding,) * 4)
        top = torch.randint(0, 2 * padding + 1, (b,), device=device, generator=generator)
        left = torch.randint(0, 2 * padding + 1, (b,), device=device, generator=generator)
        rows = (top[:, None] + torch.arange(h, device=device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(w, device=device))[:, None, None, :]
        batch = torch.arange(b, device=device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    flip = torch.rand(b, device=device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)

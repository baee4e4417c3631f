"""The project's file formats, each with one writer and one reader.

- Certification TSV: the original's columns ``idx label predict radius correct time``
  (``radius`` is the l-inf radius at full precision, ``predict`` is -1 on abstention,
  ``time`` in seconds) followed by ``radius_l2 pa_lower pb_upper count_a count_b`` of the
  same certificate and ``selection_counts estimation_counts``, the per-class votes
  (comma-separated) from which every certificate variant can be recomputed
  (``certificates``). The reader also takes the original's and Cohen et al.'s six-column
  files, whose ``time`` is a timedelta string such as ``0:00:06.620000``.
- Prediction TSV (Cohen et al.'s PREDICT): ``idx label predict correct time counts`` (the
  votes per class, from which the prediction is recomputed; files of earlier versions lack them).
- The description of either, a JSON sidecar ``<file>.json`` (``description_path``): what made the
  file (dataset, image size, d, the certification settings, the model's digest, the
  project's version), so the analysis needs nothing typed again.
- Checkpoints: a dict of tensors and plain values, loaded with ``weights_only=True`` so a
  malicious pickle cannot run code.

Every writer goes through ``atomic_path`` or ``RowWriter``: a killed job, or one whose disk
fills up (``DiskFullError``, one line naming the file), leaves a ``.tmp`` file, never a file
under the final name that looks complete.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
from pathlib import Path
from typing import Iterator

import pandas as pd

from linf_smoothing.certificates import format_counts
from linf_smoothing.checks import checkpoint_metadata, file_digest
from linf_smoothing.errors import CheckpointError, DiskFullError, ResultError

CERTIFY_COLUMNS = ["idx", "label", "predict", "radius", "correct", "time"]
PREDICT_COLUMNS = ["idx", "label", "predict", "correct", "time"]
PREDICT_COUNTS = "counts"
CERTIFY_EXTRA_COLUMNS = ["radius_l2", "pa_lower", "pb_upper", "count_a", "count_b",
                         "selection_counts", "estimation_counts"]


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def disk_full_named(path: Path) -> Iterator[None]:
    """Turn a write that runs out of space into a DiskFullError naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_SPACE or isinstance(exc, DiskFullError):
            raise
        error = DiskFullError(f"no space left on the disk writing {path} ({exc.strerror}): free space and run the "
                              "same command again; no file was left under a finished name")
        error.errno = exc.errno
        raise error from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with disk_full_named(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def description_path(path: Path) -> Path:
    """Where the description of certification file ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_description(path: Path, description: dict) -> None:
    with atomic_path(description_path(path)) as tmp:
        tmp.write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")


def read_description(path: Path) -> dict | None:
    """The description of certification file ``path``, or None for a file without one."""
    sidecar = description_path(path)
    if not sidecar.exists():
        return None
    try:
        description = json.loads(sidecar.read_text())
    except ValueError as exc:
        raise ValueError(f"{sidecar} is not a certification description ({exc}): delete it and rerun "
                         "the certification that made it") from None
    if not isinstance(description, dict):
        raise ValueError(f"{sidecar} is not a certification description: delete it and rerun the certification")
    return description


class RowWriter:
    """Streams TSV rows, one per image, to ``path.tmp`` (readable with ``tail -f``) and, on a
    successful close, writes ``description`` beside ``path`` and moves the file into place;
    use as a context manager.

    A killed run leaves ``path.tmp`` (complete rows so far) and ``path.tmp.json`` (its
    description). A later writer with the same description and ``expected`` image indices
    keeps those rows, as far as they are complete, are the first of ``expected`` in order and
    pass the file's checks (``_check_prefix``: their labels against the test data among them),
    and appends after them: ``done`` says how many. Anything else there is discarded. A write
    that finds the disk full raises DiskFullError and leaves the rows in ``path.tmp``."""

    def __init__(self, path: Path, columns: list[str], description: dict, expected: list[int] | None = None):
        self._path, self._description = Path(path), description
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self._path.with_name(self._path.name + ".tmp")
        self._partial_description = self._partial.with_name(self._partial.name + ".json")
        header = "\t".join(columns) + "\n"
        kept = self._resumable_rows(header, expected) if expected is not None else []
        self.done = len(kept)
        with disk_full_named(self._partial):
            with open(self._partial, "w") as handle:
                handle.write(header + "".join(kept))
            self._partial_description.write_text(json.dumps(description, sort_keys=True))
            self._handle = open(self._partial, "a", buffering=1)

    def _resumable_rows(self, header: str, expected: list[int]) -> list[str]:
        try:
            if json.loads(self._partial_description.read_text()) != json.loads(json.dumps(self._description)):
                return []
            lines = self._partial.read_text().splitlines(keepends=True)
        except (OSError, ValueError):
            return []
        if not lines or lines[0] != header:
            return []
        kept = []
        for line, idx in zip(lines[1:], expected):
            if not line.endswith("\n") or line.count("\t") != header.count("\t") or line.split("\t", 1)[0] != str(idx):
                break
            kept.append(line)
        if kept:
            try:
                self._check_prefix(pd.read_csv(io.StringIO(header + "".join(kept)), sep="\t"))
            except ValueError as exc:
                logging.getLogger("results").warning("not resuming from %s: %s", self._partial, exc)
                return []
        return kept

    def _check_prefix(self, frame: pd.DataFrame) -> None:
        """Raise ValueError unless the killed run's rows ``frame`` are what they say."""

    def write_row(self, fields: list) -> None:
        with disk_full_named(self._partial):
            self._handle.write("\t".join(str(f) for f in fields) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        with disk_full_named(self._partial):
            self._handle.close()
            if exc_info[0] is None:
                write_description(self._path, {**self._description, "rows_sha256": file_digest(self._partial)})
                os.replace(self._partial, self._path)
                self._partial_description.unlink(missing_ok=True)
        return False


class CertificationWriter(RowWriter):
    """The certification TSV, one image a row."""

    def __init__(self, path: Path, description: dict, expected: list[int] | None = None):
        super().__init__(path, CERTIFY_COLUMNS + CERTIFY_EXTRA_COLUMNS, description, expected)

    def _check_prefix(self, frame: pd.DataFrame) -> None:
        """``checks.check_certification`` on a prefix of the images."""
        from linf_smoothing.checks import check_certification

        check_certification(self._partial, frame, self._description, prefix=True)

    def write(self, idx: int, label: int, cert, seconds: float, counts) -> None:
        """One image's row: its certificate ``cert`` and the ``counts`` (``smoothing.Counts``) it came from."""
        self.write_row([idx, label, cert.predict, repr(float(cert.radius_linf)), int(cert.predict == label),
                        f"{seconds:.4f}", repr(float(cert.radius_l2)), repr(float(cert.pa_lower)),
                        repr(float(cert.pb_upper)), cert.count_a, cert.count_b,
                        format_counts(counts.selection), format_counts(counts.estimation)])


class PredictionWriter(RowWriter):
    """The prediction TSV of Cohen et al.'s PREDICT, one image a row."""

    def __init__(self, path: Path, description: dict, expected: list[int] | None = None):
        super().__init__(path, PREDICT_COLUMNS + [PREDICT_COUNTS], description, expected)

    def _check_prefix(self, frame: pd.DataFrame) -> None:
        """``checks.check_prediction`` on a prefix of the images."""
        from linf_smoothing.checks import check_prediction

        check_prediction(self._partial, frame, self._description, prefix=True)

    def write(self, idx: int, label: int, predict: int, seconds: float, counts) -> None:
        """One image's row: its PREDICT and the ``counts`` (votes per class) it came from."""
        self.write_row([idx, label, predict, int(predict == label), f"{seconds:.4f}", format_counts(counts)])


def _read_tsv(path: Path, what: str) -> pd.DataFrame:
    """A tab-separated file as a frame; one line naming the file where it cannot be one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file: give the path of a {what}")
    try:
        return pd.read_csv(path, sep="\t")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: it is not a {what}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text: it is not a {what}") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a tab-separated {what} ({str(exc).strip()})") from None


def read_predictions(path: Path) -> pd.DataFrame:
    """A prediction file's rows (only its format checked; ``load_predictions`` checks the rest)."""
    frame = _read_tsv(path, "prediction file")
    if list(frame.columns) not in (PREDICT_COLUMNS, PREDICT_COLUMNS + [PREDICT_COUNTS]):
        raise ValueError(f"{path} is not a prediction file of scripts/predict.py (columns {PREDICT_COLUMNS} "
                         f"and {PREDICT_COUNTS})")
    if frame.empty:
        raise ValueError(f"{path} holds a header and no rows: rerun the predict job that writes it")
    _numeric(path, frame, ("idx", "label", "predict", "correct"))
    return frame


def _numeric(path: Path, frame: pd.DataFrame, columns) -> None:
    """Make ``columns`` of ``frame`` numbers; one line naming the row of a value that is not one
    (a NaN radius too: it would count as "not certified" without a word)."""
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax())
            raise ValueError(f"{path}, row {row + 1}: {column} '{frame[column].iloc[row]}' is not a number")
        frame[column] = values


def load_predictions(path: Path) -> tuple[pd.DataFrame, dict]:
    """A prediction file's rows and description, after ``checks.check_prediction``: the one way
    the project reads a prediction file."""
    from linf_smoothing.checks import check_prediction

    frame = read_predictions(path)
    description = read_description(path)
    check_prediction(path, frame, description)
    frame["correct"] = frame["correct"].astype(int)
    return frame, description


def read_certification(path: Path) -> pd.DataFrame:
    """Read a certification file (ours, the original's or Cohen et al.'s); ``time`` in seconds.
    Only its format is checked here; ``load_certification`` checks it against what made it."""
    frame = _read_tsv(path, "certification file")
    missing = [c for c in CERTIFY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a certification file: columns {missing} are missing")
    if frame.empty:
        raise ValueError(f"{path} holds a header and no rows: rerun the certification that writes it")
    _numeric(path, frame, ("idx", "label", "predict", "radius", "correct") + tuple(
        c for c in CERTIFY_EXTRA_COLUMNS[:5] if c in frame.columns))
    try:
        if not pd.api.types.is_numeric_dtype(frame["time"]):
            frame["time"] = pd.to_timedelta(frame["time"]).dt.total_seconds()
    except ValueError:
        raise ValueError(f"{path}: its time column holds values that are neither seconds nor durations") from None
    return frame


def load_certification(path: Path, shard: bool = False) -> tuple[pd.DataFrame, dict | None]:
    """A certification file's rows and description (None for a foreign file), after
    ``checks.check_certification`` and, where the description names its checkpoint and that
    file is there unchanged, ``check_training_record``: the one way the project reads a
    certification. A shard (its description names one) is refused unless ``shard``: it holds
    part of a run's images, and read as the run it gives another table."""
    from linf_smoothing.checks import check_certification

    frame = read_certification(path)
    description = read_description(path)
    if description is not None and "shard" in description and not shard:
        raise ResultError(f"{path} is shard {description['shard'] + 1} of {description['shards']} of a "
                          f"certification ({len(frame)} of its images): give the file that gather_certification.py "
                          "joins its shards into")
    check_certification(path, frame, description)
    if description is not None:
        check_training_record(path, description)
    frame["correct"] = frame["correct"].astype(int)
    return frame, description


def check_training_record(path: Path, description: dict) -> None:
    """Raise ResultError unless the training a description records (``training``,
    ``training_method``) is what its checkpoint (``model``, whose digest is ``model_sha256``)
    records; say nothing where the description names no checkpoint, and warn where that file
    is gone or another (retrained since)."""
    model = description.get("model")
    if model is None or "training" not in description:
        return
    if not Path(model).is_file() or file_digest(model) != description.get("model_sha256"):
        logging.getLogger("results").warning("%s: its checkpoint %s is gone or was replaced since: the training "
                                             "its description records is not checked", path, model)
        return
    training = (checkpoint_metadata(model) or {}).get("training")
    method = (training or {}).get("method")
    if description["training"] != training or description.get("training_method") != method:
        raise ResultError(f"{path}.json records a training (method {description.get('training_method')}) that is "
                          f"not the one its checkpoint {model} records (method {method}): the description was "
                          "edited; rerun the certification that wrote it")


def save_checkpoint(path: Path, model, metadata: dict) -> None:
    """Save the model's weights with the metadata that rebuilds it (architecture, sizes) and
    says what made it (the training settings)."""
    import torch

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "metadata": dict(metadata)}, tmp)


def load_torch_file(path: Path, fix: str):
    """A file torch.save wrote, loaded without running any pickled code (``weights_only``);
    CheckpointError naming the file, what it is instead and ``fix`` where it cannot be one."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is {'a directory' if path.is_dir() else 'missing'}: {fix}")
    with open(path, "rb") as handle:
        start = handle.read(512)
    if not start.startswith((b"PK\x03\x04", b"\x80")):  # torch's zip format, or its legacy pickle
        what = ("empty" if not start else "text, not a torch checkpoint" if _is_text(start) else
                "not a torch checkpoint (neither a zip archive nor a pickle)")
        raise CheckpointError(f"{path} is {what}: {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a loadable checkpoint ({type(exc).__name__}: {first_line}): "
                              f"{fix}") from None


def _is_text(start: bytes) -> bool:
    try:
        start.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without running any pickled code; raise CheckpointError if unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} is missing: run the train rule that makes it.")
    checkpoint = load_torch_file(path, "delete it and retrain (or import it again).")
    if not isinstance(checkpoint, dict) or not {"state_dict", "metadata"} <= checkpoint.keys():
        raise CheckpointError(f"{path} is not a checkpoint of this project: delete it and retrain.")
    return checkpoint


def load_model(path: Path, device="cpu"):
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


def check_model_fits(meta: dict, images, labels, model_path: Path, data_path: Path) -> None:
    """Refuse to use a checkpoint on test images it was not made for: other channels, another
    image size than it was trained at (or, for an imported Cohen et al. model with fixed
    pooling, takes), or labels beyond its classes."""
    channels, size = int(images.shape[1]), int(images.shape[-1])
    if meta["in_channels"] != channels:
        raise CheckpointError(f"{model_path} takes {meta['in_channels']}-channel images and {data_path} holds "
                              f"{channels}-channel ones: give the test split of the model's dataset")
    trained = meta.get("image_size")
    if trained is not None and trained != size:
        raise CheckpointError(f"{model_path} was trained on {trained}x{trained} images and {data_path} holds "
                              f"{size}x{size} ones: give the test split of size {trained}")
    required = meta.get("requires_image_size")
    if required is not None and required != size:
        raise CheckpointError(f"{model_path} takes {required}x{required} images only (its pooling is fixed), not "
                              f"{size}x{size}: use it with image_size {required}")
    if len(labels) and int(labels.max()) >= meta["num_classes"]:
        raise CheckpointError(f"{data_path} has label {int(labels.max())} and {model_path} only "
                              f"{meta['num_classes']} classes: give the test split of the model's dataset")

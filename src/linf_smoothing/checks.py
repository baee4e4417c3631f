"""A certification file checked against what made it, wherever it is read (the gather, the
analysis, a published file, a resumed run).

Every file (ours, the original's, Cohen et al.'s):
- ``idx`` are distinct non-negative integers; ``label`` and ``predict`` are classes
  (``predict`` -1 on abstention) below the description's class count where it is known;
- ``radius`` is finite and not negative, and 0 on an abstention;
- ``correct`` is 1 exactly where ``predict == label``.

Ours, which carry their description (``results.read_description``) and vote counts, also:
- the rows are the test images the description names (``skip``, ``max_images``, the shard),
  in order, once each;
- ``rows_sha256`` of the description is the digest of the file's bytes (files written before
  the digest existed have none, and get every other check);
- the counts have one entry per class and sum to N0 and N;
- every stored certificate (``predict``, both radii, the bounds, the two counts) is what
  ``certificates.certify_many`` computes from the row's counts with the description's noise
  (Gaussian where it names none), sigma, alpha, variant and d, so an edited description, a
  foreign file under our description or an edited value is caught.

``check_certification`` raises ``ResultError`` with one line naming the file, the row and what
disagrees. ``description_mismatch`` compares a description with the one the workflow would
write, without reading the rows (cheap enough for planning a run: no numpy, no pandas).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from linf_smoothing.errors import ResultError
from linf_smoothing.shards import selected_images, shard_images

# Keys every description of ours holds; without them the rows cannot be checked.
DESCRIPTION_KEYS = ("sigma", "dimension", "n0", "n", "alpha", "variant", "seed", "skip", "max_images",
                    "test_images", "num_classes")
CERTIFICATE_COLUMNS = {"predict": "predict", "radius": "radius_linf", "radius_l2": "radius_l2",
                       "pa_lower": "pa_lower", "pb_upper": "pb_upper", "count_a": "count_a", "count_b": "count_b"}
# Radii and bounds are written with repr(float); other machines' libm may differ in the last bits.
RELATIVE_TOLERANCE = 1e-9


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: the identity of a checkpoint or a data file, and of a
    certification file's rows (``rows_sha256`` in its description)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def description_mismatch(description: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> str | None:
    """Which key of ``description`` differs from ``expected`` (only the keys ``expected`` names),
    or None where they agree. Values are compared as JSON writes them (tuples as lists)."""
    if description is None:
        return "it has no description"
    for key, value in expected.items():
        want = json.loads(json.dumps(value))
        if key not in description:
            return f"its description lacks {key} (expected {want!r})"
        if description[key] != want:
            return f"its description says {key} = {description[key]!r} where the run would write {want!r}"
    return None


def expected_images(description: Mapping[str, Any]) -> list[int]:
    """The test images a described run certifies: every ``skip``-th, at most ``max_images``,
    and of those the shard's part where the description names a shard."""
    images = selected_images(description["test_images"], description["skip"], description["max_images"])
    if "shard" in description:
        images = shard_images(images, description["shard"], description["shards"])
    return images


def _first(mask) -> int | None:
    import numpy as np

    bad = np.flatnonzero(np.asarray(mask))
    return int(bad[0]) if len(bad) else None


def _fail(path, frame, row: int, what: str) -> None:
    raise ResultError(f"{path}, row {row + 1} (image {frame['idx'].iloc[row]}): {what}; "
                      "the file is not what its columns or its description say: rerun the certification that wrote it")


def check_columns(path: Path, frame, num_classes: int | None = None) -> None:
    """The checks every certification file gets (see the module docstring)."""
    import numpy as np

    for column in ("idx", "label", "predict", "correct"):
        values = frame[column].to_numpy(dtype=float)
        row = _first(values != np.round(values))
        if row is not None:
            _fail(path, frame, row, f"{column} {frame[column].iloc[row]} is not an integer")
    idx = frame["idx"].to_numpy()
    row = _first(idx < 0)
    if row is not None:
        _fail(path, frame, row, f"idx {idx[row]} is negative")
    duplicated = frame["idx"].duplicated().to_numpy()
    row = _first(duplicated)
    if row is not None:
        _fail(path, frame, row, f"image {idx[row]} appears a second time")
    label, predict = frame["label"].to_numpy(), frame["predict"].to_numpy()
    top = "" if num_classes is None else f" or above {num_classes - 1} ({num_classes} classes)"
    row = _first((label < 0) | (label >= (num_classes or np.inf)))
    if row is not None:
        _fail(path, frame, row, f"label {label[row]} is negative{top}")
    row = _first((predict < -1) | (predict >= (num_classes or np.inf)))
    if row is not None:
        _fail(path, frame, row, f"predict {predict[row]} is neither -1 (abstain) nor a class{top}")
    correct = frame["correct"].to_numpy()
    row = _first(correct != (predict == label))
    if row is not None:
        _fail(path, frame, row, f"correct is {correct[row]} where predict {predict[row]} and label {label[row]} "
                                f"give {int(predict[row] == label[row])}")
    radius = frame["radius"].to_numpy(dtype=float)
    row = _first(~np.isfinite(radius) | (radius < 0))
    if row is not None:
        _fail(path, frame, row, f"radius {radius[row]} is not a finite number of at least 0")
    row = _first((predict == -1) & (radius != 0))
    if row is not None:
        _fail(path, frame, row, f"radius {radius[row]} on an abstention, where it is 0")


def check_certification(path: Path, frame, description: Mapping[str, Any] | None, prefix: bool = False) -> None:
    """Raise ResultError unless the certification file ``path`` (its rows ``frame``, as
    ``results.read_certification`` reads them, and its ``description``) is what it says;
    with ``prefix``, the rows a killed run wrote, the first of its images."""
    import numpy as np

    from linf_smoothing.certificates import certify_many, parse_counts
    from linf_smoothing.noises import noise_from_description

    has_counts = "estimation_counts" in frame and "selection_counts" in frame
    if description is None:
        if has_counts:
            raise ResultError(f"{path} holds vote counts but its description {Path(path).name}.json is missing: "
                              "rerun the certification that wrote it")
        check_columns(path, frame)
        return
    missing = [key for key in DESCRIPTION_KEYS if key not in description]
    if missing:
        raise ResultError(f"{path}.json lacks {', '.join(missing)}: it is not a description of this project's "
                          "certification; rerun the certification that wrote it")
    if not has_counts:
        raise ResultError(f"{path} has a description but no vote counts: it is not a certification file of this "
                          "project; rerun the certification that wrote it")
    digest = description.get("rows_sha256")
    if digest is not None and not prefix and digest != file_digest(path):
        raise ResultError(f"{path}: its bytes are not the ones its description {Path(path).name}.json was written "
                          "for (rows_sha256 differs): the file was edited or replaced; rerun the certification "
                          "that wrote it")
    num_classes = int(description["num_classes"])
    check_columns(path, frame, num_classes)
    expected = expected_images(description)
    idx = frame["idx"].to_numpy()
    if prefix:
        expected = expected[:len(idx)]
    if len(idx) != len(expected) or not np.array_equal(idx, expected):
        row = next((r for r, (i, e) in enumerate(zip(idx, expected)) if i != e), min(len(idx), len(expected)))
        if row < len(idx):
            want = f"image {expected[row]}" if row < len(expected) else "no row"
            _fail(path, frame, row, f"image {idx[row]} where its description's run certifies {want} "
                                    f"({len(expected)} images in all)")
        raise ResultError(f"{path}: {len(idx)} rows where its description's run certifies {len(expected)} images "
                          f"(the first missing is image {expected[row]}): rerun the certification that wrote it")
    counts = {}
    for column, total in (("selection_counts", description["n0"]), ("estimation_counts", description["n"])):
        try:
            rows = [parse_counts(field) for field in frame[column]]
        except ValueError:
            row = next(r for r, field in enumerate(frame[column]) if not _parses(field))
            _fail(path, frame, row, f"{column} '{frame[column].iloc[row]}' is not comma-separated integers")
        row = next((r for r, c in enumerate(rows) if len(c) != num_classes), None)
        if row is not None:
            _fail(path, frame, row, f"{column} has {len(rows[row])} classes where the model has {num_classes}")
        matrix = np.stack(rows)
        row = _first((matrix < 0).any(axis=1))
        if row is not None:
            _fail(path, frame, row, f"{column} holds a negative count")
        row = _first(matrix.sum(axis=1) != total)
        if row is not None:
            _fail(path, frame, row, f"{column} sum to {matrix[row].sum()} where the run drew {total} samples")
        counts[column] = matrix
    try:
        noise = noise_from_description(description, description["sigma"], description["dimension"])
        recomputed = certify_many(counts["selection_counts"], counts["estimation_counts"], description["sigma"],
                                  description["alpha"], description["variant"], description["dimension"], noise)
    except ValueError as exc:
        raise ResultError(f"{path}.json: {exc}; rerun the certification that wrote it") from None
    # the noise where it is not the paper's Gaussian (a Gaussian description names none)
    named = "" if "noise" not in description else "".join(f" {k} {v}," for k, v in noise.describe().items())
    for column, field in CERTIFICATE_COLUMNS.items():
        stored = frame[column].to_numpy(dtype=float)
        computed = recomputed[field].astype(float)
        row = _first(~np.isclose(stored, computed, rtol=RELATIVE_TOLERANCE, atol=1e-12))
        if row is not None:
            _fail(path, frame, row, f"{column} {float(stored[row])!r} is not the {float(computed[row])!r} that the "
                                    f"counts give with the description's{named} sigma {description['sigma']}, "
                                    f"alpha {description['alpha']}, d {description['dimension']} and "
                                    f"{description['variant']} certificate")


def _parses(field) -> bool:
    try:
        [int(c) for c in str(field).split(",")]
    except ValueError:
        return False
    return True

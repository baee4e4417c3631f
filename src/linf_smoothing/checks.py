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

Every value of a description is checked first (a count is an integer in the schema's range, a
probability lies in (0, 1), ...), so a description claiming 10^12 test images or a class
count that is not a number ends in one line. Where the description names its test data
(``test_data``, ``test_data_sha256``) and that file is there, unchanged, each row's label is the
test data's label of its image.

A prediction file of Cohen et al.'s PREDICT (``check_prediction``) gets the same checks where
they apply: its description's values, its digest, its rows (the images its description names,
once each, in order), ``correct``, its labels against the test data, and, where it holds the
votes (``counts``), each prediction recomputed from them with the description's alpha.

``check_certification`` raises ``ResultError`` with one line naming the file, the row and what
disagrees. ``description_mismatch`` compares a description with the one the workflow would
write, without reading the rows; ``split_damage`` and ``checkpoint_metadata`` read what a
resized split and a checkpoint say of themselves, all cheap enough for planning a run (no numpy,
no pandas, no torch).
"""
from __future__ import annotations

import ast
import collections
import dataclasses
import hashlib
import io
import json
import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from linf_smoothing.datasets import CHANNELS, TEST_IMAGES, TRAIN_IMAGES
from linf_smoothing.errors import ResultError
from linf_smoothing.shards import contiguous_part
from linf_smoothing.validators import dimension_side, key_schema, valid_range, why_invalid

# Keys every description of ours holds; without them the rows cannot be checked.
DESCRIPTION_KEYS = ("sigma", "dimension", "n0", "n", "alpha", "variant", "seed", "skip", "max_images",
                    "test_images", "num_classes")
PREDICTION_KEYS = ("sigma", "n", "alpha", "seed", "skip", "max_images", "test_images", "num_classes")
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


def description_mismatch(description: Mapping[str, Any] | None, expected: Mapping[str, Any],
                         optional: Mapping[str, Any] | None = None) -> str | None:
    """Which key of ``description`` differs from ``expected`` (only the keys ``expected`` names)
    or from ``optional`` (keys compared only where the description holds them: those a file of
    an earlier version lacks), or None where they agree. Values are compared as JSON writes them
    (tuples as lists)."""
    if description is None:
        return "it has no description"
    for key, value in [*expected.items(), *(optional or {}).items()]:
        want = json.loads(json.dumps(value))
        if key not in description:
            if key in expected:
                return f"its description lacks {key} (expected {want!r})"
            continue
        if description[key] != want:
            return f"its description says {key} = {description[key]!r} where the run would write {want!r}"
    return None


def expected_images(description: Mapping[str, Any]) -> Sequence[int]:
    """The test images a described run certifies: every ``skip``-th, at most ``max_images``,
    and of those the shard's part where the description names a shard (a range: its length
    costs nothing however many images a description claims)."""
    images = range(0, description["test_images"], description["skip"])[:description["max_images"]]
    if "shard" in description:
        images = images[contiguous_part(len(images), description["shard"], description["shards"])]
    return images


def _description_ranges() -> dict[str, dict]:
    """The schema's entry of each value a description holds (the configuration's key it comes from)."""
    counts = {"type": "integer", "minimum": 1, "maximum": key_schema("certify", "n")["maximum"]}
    return {"sigma": key_schema("experiment", "sigma"), "n0": key_schema("certify", "n0"),
            "n": key_schema("certify", "n"), "alpha": key_schema("certify", "alpha"),
            "variant": key_schema("certify", "variant"), "seed": {"type": "integer", "minimum": 0},
            "skip": key_schema("experiment", "skip"), "max_images": key_schema("experiment", "max_images"),
            "test_images": counts, "num_classes": dict(counts, minimum=2), "dimension": counts,
            "shards": key_schema("certify", "shards")}


def check_description(path: Path, description: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Raise ResultError unless ``description`` (of the file ``path``) holds every key of ``keys``,
    each a value of the right type within the range the schema gives it."""
    sidecar = f"{path}.json"
    missing = [key for key in keys if key not in description]
    if missing:
        raise ResultError(f"{sidecar} lacks {', '.join(missing)}: it is not a description of this project's "
                          "results; rerun the job that wrote it")
    ranges = _description_ranges()
    for key in [*keys, *(k for k in ("shard", "shards") if k in description)]:
        value = description[key]
        if key == "max_images" and value is None:
            continue
        fragment = ranges.get(key, {"type": "integer", "minimum": 0})
        if key == "shard":
            fragment = {"type": "integer", "minimum": 0, "maximum": description.get("shards", 1) - 1}
        wrong_type = (not isinstance(value, str) if "enum" in fragment else
                      isinstance(value, bool) or not isinstance(value, int if fragment["type"] == "integer" else
                                                                (int, float)))
        why = f"{value!r} is not {valid_range(fragment)}" if wrong_type else why_invalid(value, fragment)
        if why is not None:
            raise ResultError(f"{sidecar}: {key} {why}: the description was edited or is not this project's; "
                              "rerun the job that wrote it")
    if "dimension" in keys and dimension_side(description["dimension"]) is None:
        raise ResultError(f"{sidecar}: dimension {description['dimension']} is not channels x size x size of an "
                          "image: the description was edited; rerun the job that wrote it")


def test_labels(path: Path, description: Mapping[str, Any]):
    """The labels of the test data the description of ``path`` names, by image, where that file is
    there and is the one the run read (its digest); None where the description names none. A
    changed file gets a warning (its labels cannot speak for the run's)."""
    import numpy as np

    data, digest = description.get("test_data"), description.get("test_data_sha256")
    if data is None or digest is None or not Path(data).is_file():
        return None
    if file_digest(data) != digest:
        logging.getLogger("checks").warning("%s: its test data %s changed since it was made: its labels are not "
                                            "checked against it", path, data)
        return None
    try:
        with np.load(data) as archive:
            return archive["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None


def _check_labels(path, frame, description) -> None:
    import numpy as np

    labels = test_labels(path, description)
    if labels is None:
        return
    idx = frame["idx"].to_numpy()
    row = _first(idx >= len(labels))
    if row is not None:
        _fail(path, frame, row, f"image {idx[row]} is beyond the {len(labels)} images of its test data "
                                f"{description['test_data']}")
    label = frame["label"].to_numpy()
    row = _first(label != np.asarray(labels)[idx])
    if row is not None:
        _fail(path, frame, row, f"label {label[row]} where its test data {description['test_data']} has "
                                f"{int(labels[idx[row]])}")


def _check_rows(path, frame, description, prefix: bool) -> None:
    """The rows are the images the description names, once each, in order (a prefix of them for
    the rows a killed run wrote); the labels are the test data's."""
    import numpy as np

    expected = expected_images(description)
    idx = frame["idx"].to_numpy()
    if prefix:
        expected = expected[:len(idx)]
    if len(idx) != len(expected) or not np.array_equal(idx, np.asarray(expected)):
        row = next((r for r, (i, e) in enumerate(zip(idx, expected)) if i != e), min(len(idx), len(expected)))
        if row < len(idx):
            want = f"image {expected[row]}" if row < len(expected) else "no row"
            _fail(path, frame, row, f"image {idx[row]} where its description's run certifies {want} "
                                    f"({len(expected)} images in all)")
        raise ResultError(f"{path}: {len(idx)} rows where its description's run certifies {len(expected)} images "
                          f"(the first missing is image {expected[row]}): rerun the certification that wrote it")
    _check_labels(path, frame, description)


def _first(mask) -> int | None:
    import numpy as np

    bad = np.flatnonzero(np.asarray(mask))
    return int(bad[0]) if len(bad) else None


def _fail(path, frame, row: int, what: str) -> None:
    raise ResultError(f"{path}, row {row + 1} (image {frame['idx'].iloc[row]}): {what}; "
                      "the file is not what its columns or its description say: rerun the job that wrote it")


def check_columns(path: Path, frame, num_classes: int | None = None, radius: bool = True) -> None:
    """The checks every certification file gets (see the module docstring); without ``radius``,
    those of its columns a prediction file shares."""
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
    if not radius:
        return
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

    from linf_smoothing.certificates import certify_many
    from linf_smoothing.noises import noise_from_description

    has_counts = "estimation_counts" in frame and "selection_counts" in frame
    if description is None:
        if has_counts:
            raise ResultError(f"{path} holds vote counts but its description {Path(path).name}.json is missing: "
                              "rerun the certification that wrote it")
        check_columns(path, frame)
        return
    check_description(path, description, DESCRIPTION_KEYS)
    if not has_counts:
        raise ResultError(f"{path} has a description but no vote counts: it is not a certification file of this "
                          "project; rerun the certification that wrote it")
    digest = description.get("rows_sha256")
    if digest is not None and not prefix and digest != file_digest(path):
        raise ResultError(f"{path}: its bytes are not the ones its description {Path(path).name}.json was written "
                          "for (rows_sha256 differs): the file was edited or replaced; rerun the certification "
                          "that wrote it")
    num_classes = description["num_classes"]
    check_columns(path, frame, num_classes)
    _check_rows(path, frame, description, prefix)
    counts = {column: _count_matrix(path, frame, column, total, num_classes)
              for column, total in (("selection_counts", description["n0"]), ("estimation_counts", description["n"]))}
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


def _count_matrix(path, frame, column: str, total: int, num_classes: int):
    """The votes of ``column`` (comma-separated per row) as a matrix, each row ``num_classes``
    non-negative counts summing to the ``total`` samples drawn."""
    import numpy as np

    from linf_smoothing.certificates import parse_counts

    try:
        rows = [parse_counts(field) for field in frame[column]]
    except (ValueError, OverflowError):
        row = next(r for r, field in enumerate(frame[column]) if not _parses(field))
        _fail(path, frame, row, f"{column} '{frame[column].iloc[row]}' is not comma-separated integers of at most "
                                f"{total}")
    row = next((r for r, c in enumerate(rows) if len(c) != num_classes), None)
    if row is not None:
        _fail(path, frame, row, f"{column} has {len(rows[row])} classes where the model has {num_classes}")
    matrix = np.stack(rows)
    row = _first((matrix < 0).any(axis=1))
    if row is not None:
        _fail(path, frame, row, f"{column} holds a negative count")
    row = _first((matrix > total).any(axis=1) | (matrix.sum(axis=1) != total))
    if row is not None:
        _fail(path, frame, row, f"{column} sum to {matrix[row].sum()} where the run drew {total} samples")
    return matrix


def _parses(field) -> bool:
    from linf_smoothing.certificates import parse_counts

    try:
        parse_counts(field)
    except (ValueError, OverflowError):
        return False
    return True


def check_prediction(path: Path, frame, description: Mapping[str, Any] | None, prefix: bool = False) -> None:
    """Raise ResultError unless the prediction file ``path`` (its rows ``frame`` and its
    ``description``) is what it says (see the module docstring); with ``prefix``, the rows a
    killed run wrote, the first of its images."""
    from linf_smoothing.prediction import predict_from_counts

    if description is None:
        raise ResultError(f"{path} has no description ({Path(path).name}.json), which predict.py writes beside "
                          "every prediction file: rerun the predict job that wrote it")
    check_description(path, description, PREDICTION_KEYS)
    digest = description.get("rows_sha256")
    if digest is not None and not prefix and digest != file_digest(path):
        raise ResultError(f"{path}: its bytes are not the ones its description {Path(path).name}.json was written "
                          "for (rows_sha256 differs): the file was edited or replaced; rerun the predict job that "
                          "wrote it")
    check_columns(path, frame, description["num_classes"], radius=False)
    _check_rows(path, frame, description, prefix)
    if "counts" not in frame:
        return  # a file of a version that did not keep the votes: every other check
    votes = _count_matrix(path, frame, "counts", description["n"], description["num_classes"])
    predict = frame["predict"].to_numpy()
    recomputed = predict_from_counts(votes, description["alpha"])
    row = _first(recomputed != predict)
    if row is not None:
        _fail(path, frame, row, f"predict {predict[row]} is not the {recomputed[row]} that its counts give with the "
                                f"description's alpha {description['alpha']}")


def _npy_header(archive: zipfile.ZipFile, member: str) -> dict:
    """The header of a .npy member of an .npz archive (its ``shape`` and ``descr``), read
    without numpy."""
    with archive.open(member) as handle:
        magic = handle.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise ValueError(f"{member} is not a .npy array")
        size = int.from_bytes(handle.read(2 if magic[6] == 1 else 4), "little")
        return ast.literal_eval(handle.read(size).decode("latin1"))


def split_description_path(path: Path) -> Path:
    """Where the description of a resized split lives (``data.save_split`` writes it)."""
    return Path(f"{path}.json")


def split_damage(path: Path, dataset: str, split: str, image_size: int) -> str | None:
    """Why the resized split at ``path`` is not the ``split`` of ``dataset`` at ``image_size``
    pixels (unreadable or cut short, another split's image count, another size or channel
    count, a description that says otherwise), or None where it looks it; read from the
    archive's array headers and its description, without loading the arrays."""
    count = {"train": TRAIN_IMAGES, "test": TEST_IMAGES}[split][dataset]
    shape = (count, CHANNELS[dataset], image_size, image_size)
    try:
        with zipfile.ZipFile(path) as archive:
            images, labels = _npy_header(archive, "images.npy"), _npy_header(archive, "labels.npy")
    except (OSError, KeyError, ValueError, SyntaxError, zipfile.BadZipFile, EOFError) as exc:
        return f"it is not a readable resized split ({type(exc).__name__}: {exc})"
    if tuple(images["shape"]) != shape or images["descr"] != "|u1" or tuple(labels["shape"]) != (count,):
        return (f"it holds {'x'.join(map(str, images['shape']))} images where the {split} split of {dataset} at "
                f"size {image_size} is {'x'.join(map(str, shape))}")
    try:
        description = json.loads(split_description_path(path).read_text())
    except FileNotFoundError:
        return None  # a split of a version that wrote no description: its arrays' shapes only
    except (OSError, ValueError):
        return f"its description {split_description_path(path)} is not JSON"
    return description_mismatch(description, {"dataset": dataset, "split": split, "image_size": image_size,
                                              "images": count})


class _MetadataUnpickler(pickle.Unpickler):
    """Reads a torch checkpoint's pickle without torch and without running any of its code:
    tensors become None, every torch name a function returning None, any other global is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" or module.startswith("torch."):
            return lambda *args, **kwargs: None
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint")

    def persistent_load(self, pid):
        return None


def checkpoint_metadata(path: Path) -> dict | None:
    """The ``metadata`` a checkpoint of this project records (architecture, sizes, the training
    settings, the data it was trained on), read without torch and without loading its tensors;
    None where the file is not such a checkpoint (truncated, foreign, or torch's legacy format)."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
            checkpoint = _MetadataUnpickler(io.BytesIO(archive.read(member))).load()
    except Exception:  # any unreadable file: its train or import job is run again
        return None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("metadata"), dict):
        return None
    return checkpoint["metadata"]


def checkpoint_mismatch(metadata: Mapping[str, Any] | None, image_size: int, channels: int, dataset: str,
                        training: Mapping[str, Any] | None = None, imported: Mapping[str, Any] | None = None,
                        data_sha256: Mapping[str, str | None] | None = None) -> str | None:
    """Why a checkpoint (its ``metadata``, ``checkpoint_metadata``) is not the one its experiment
    makes, or None: another image size, channel count or dataset; for a trained experiment,
    other ``training`` settings (``training_mismatch``) or other data (``data_sha256``: split ->
    the digest its description records, compared where both record one); for an imported one,
    another released file or format (``imported``: format and source_sha256)."""
    if metadata is None:
        return "it is not a checkpoint of this project (unreadable, cut short or foreign)"
    if metadata.get("in_channels") != channels:
        return f"it takes {metadata.get('in_channels')}-channel images where {dataset}'s have {channels}"
    size = metadata.get("image_size", metadata.get("requires_image_size"))
    if size not in (None, image_size):
        return f"it was made for {size}-pixel images where its experiment's are {image_size}"
    if metadata.get("dataset") not in (None, dataset):
        return f"it was trained on {metadata['dataset']} where its experiment's dataset is {dataset}"
    if imported is not None:
        recorded = metadata.get("imported") or {}
        for key, value in imported.items():
            if recorded.get(key) != value:
                return f"it was imported with {key} = {recorded.get(key)!r} where its experiment names {value!r}"
        return None
    why = training_mismatch(metadata.get("training"), training or {})
    if why is not None:
        return why
    for split, digest in (data_sha256 or {}).items():
        trained_on = (metadata.get("data_sha256") or {}).get(split)
        if None not in (digest, trained_on) and digest != trained_on:
            return f"it was trained on another {split} split than the one there now"
    return None


def training_mismatch(recorded: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> str | None:
    """Which training setting a checkpoint records (``recorded``) differs from the ones its
    experiment trains with (``expected``, ``settings.as_dict`` of its ``TrainSettings``), or
    None. A setting either leaves out holds its default (``as_dict`` leaves out a method's
    setting at its default; a checkpoint lacks a setting added after it was trained)."""
    from linf_smoothing.settings import TrainSettings

    if recorded is None:
        return "it records no training settings"
    defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                for f in dataclasses.fields(TrainSettings) if f.default is not dataclasses.MISSING}
    expected = json.loads(json.dumps(dict(expected)))
    for key in [*expected, *(k for k in recorded if k not in expected)]:
        want, have = expected.get(key, defaults.get(key)), recorded.get(key, defaults.get(key))
        if have != want:
            return f"it was trained with {key} = {have!r} where its experiment trains with {want!r}"
    return None

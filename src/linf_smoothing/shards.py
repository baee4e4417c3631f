"""Which test images a certification job takes, and the gathering of sharded runs.

Light at import (the workflow reads it when it plans a run); the gathering imports the file
formats when it runs.

An experiment certifies the test images whose index is a multiple of ``skip`` (at most
``max_images`` of them). Those images can be split into ``shards`` contiguous runs, each
certified by its own job. Because every image's noise comes from a generator seeded with
(seed, index) alone, an image gets the same samples, counts and radius whichever shard
certifies it, so the gathered file has the rows of an unsharded run (only the ``time``
column, a wall-clock measurement, differs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

TAB = "\t"


def image_seed(seed: int, idx: int) -> int:
    """Seed of the generator that draws test image ``idx``'s noise."""
    return seed * 1_000_003 + idx


def selected_images(count: int, skip: int, max_images: int | None = None) -> list[int]:
    """Indices of the test images an experiment certifies: every ``skip``-th, at most ``max_images``."""
    if skip < 1 or (max_images is not None and max_images < 1):
        raise ValueError(f"skip {skip}, max_images {max_images}: give skip >= 1 and max_images >= 1 (or none)")
    return list(range(0, count, skip))[:max_images]


def contiguous_part(length: int, part: int, parts: int) -> slice:
    """The ``part``-th (0-based) of ``parts`` contiguous, near-equal slices of ``range(length)``."""
    return slice(length * part // parts, length * (part + 1) // parts)


def shard_images(indices: Sequence[int], shard: int, shards: int) -> list[int]:
    """The ``shard``-th (0-based) of ``shards`` contiguous, near-equal parts of ``indices``."""
    if shards < 1:
        raise ValueError(f"{shards} shards: give at least 1")
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}: pass --shard below --shards")
    return list(indices[contiguous_part(len(indices), shard, shards)])


def shard_damage(path: Path, expected_rows: int) -> str | None:
    """Why the finished shard at ``path`` cannot be whole (cut short, a row with missing fields,
    other than ``expected_rows`` rows), or None where it looks whole. Cheap enough to ask of
    every shard whenever the workflow plans a run."""
    text = Path(path).read_text()
    lines = text.splitlines(keepends=True)
    if not lines:
        return "it is empty"
    if not text.endswith("\n"):
        return f"row {len(lines) - 1} is cut short"
    fields = lines[0].count("\t")
    for row, line in enumerate(lines[1:], 1):
        if line.count("\t") != fields:
            return f"row {row} has {line.count(TAB) + 1} fields where the header has {fields + 1}"
    if len(lines) - 1 != expected_rows:
        return f"it holds {len(lines) - 1} rows where its images are {expected_rows}"
    return None


def gather_certifications(shard_paths: Sequence[Path], out: Path) -> int:
    """Concatenate shard TSVs (in shard order) into ``out`` with one header, and their
    descriptions into one (without the shard's number, with the gathered rows' digest);
    return the row count.

    Each shard is checked against what made it first (``results.load_certification``). Rows
    are copied as text, so the gathered file holds exactly the shards' bytes. Raises
    ValueError, naming the file and row, if a shard has no description or another run's, is
    out of place, damaged, or not what its description says."""
    from linf_smoothing.checks import expected_images, file_digest
    from linf_smoothing.results import atomic_path, load_certification, read_description, write_description

    if not shard_paths:
        raise ValueError("no shard files given")
    shared = None
    header = None
    rows: list[str] = []
    for position, path in enumerate(shard_paths):
        description = read_description(path)
        if description is None:
            raise ValueError(f"{path} has no description ({Path(path).name}.json), which certify.py writes beside "
                             "every shard: rerun its certify job")
        if description.get("shard") != position:
            raise ValueError(f"{path} is shard {description.get('shard')}, given as shard {position}: give the "
                             "shards in order, each once")
        run = {k: v for k, v in description.items() if k not in ("shard", "rows_sha256")}
        if shared is None:
            shared = run
        elif run != shared:
            raise ValueError(f"{path} was made by another certification run than {shard_paths[0]} "
                             "(their descriptions differ): delete the shards and rerun their certify jobs")
        damage = shard_damage(path, len(expected_images(description)))
        if damage is not None:
            raise ValueError(f"{path}: {damage}: delete it and rerun its certify job")
        load_certification(path)
        lines = Path(path).read_text().splitlines(keepends=True)
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            raise ValueError(f"{path} has another header than {shard_paths[0]}: the shards come from different runs")
        rows += lines[1:]
    with atomic_path(out) as tmp:
        Path(tmp).write_text(header + "".join(rows))
        digest = file_digest(tmp)
    write_description(out, {**shared, "rows_sha256": digest})
    return len(rows)

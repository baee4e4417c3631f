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
    descriptions into one (without the shard's number); return the row count.

    Rows are copied as text, so the gathered file holds exactly the shards' bytes. Raises
    ValueError if a shard has another header or description, or the image indices do not
    increase across shards (a shard of another run, or shards out of order)."""
    from linf_smoothing.results import atomic_path, read_description, write_description

    descriptions = [read_description(path) for path in shard_paths]
    shared = [None if d is None else {k: v for k, v in d.items() if k != "shard"} for d in descriptions]
    for path, description in zip(shard_paths[1:], shared[1:]):
        if description != shared[0]:
            raise ValueError(f"{path} was made by another certification run than {shard_paths[0]} "
                             "(their descriptions differ): delete the shards and rerun their certify jobs")
    header = None
    rows: list[str] = []
    last_idx = -1
    for position, (path, description) in enumerate(zip(shard_paths, descriptions)):
        expected = None
        if description is not None:
            if description["shard"] != position:
                raise ValueError(f"{path} is shard {description['shard']}, given as shard {position}: give the "
                                 "shards in order, each once")
            expected = shard_images(selected_images(description["test_images"], description["skip"],
                                                    description["max_images"]), position, description["shards"])
            damage = shard_damage(path, len(expected))
            if damage is not None:
                raise ValueError(f"{path}: {damage}: delete it and rerun its certify job")
        lines = Path(path).read_text().splitlines(keepends=True)
        if not lines:
            raise ValueError(f"{path} is empty: delete it and rerun its certify job")
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            raise ValueError(f"{path} has another header than {shard_paths[0]}: the shards come from different runs")
        for row, line in enumerate(lines[1:], 1):
            idx = int(line.split("\t", 1)[0])
            if idx <= last_idx:
                raise ValueError(f"{path}, row {row}: image {idx} comes after image {last_idx}; "
                                 "give the shards in order, each once")
            if expected is not None and idx != expected[row - 1]:
                raise ValueError(f"{path}, row {row}: image {idx} where this shard's row {row} is image "
                                 f"{expected[row - 1]}: delete it and rerun its certify job")
            last_idx = idx
            rows.append(line)
    if header is None:
        raise ValueError("no shard files given")
    if shared[0] is not None:
        write_description(out, shared[0])
    with atomic_path(out) as tmp:
        Path(tmp).write_text(header + "".join(rows))
    return len(rows)

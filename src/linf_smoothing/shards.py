"""Which test images a certification job takes (``gathering`` joins the shards).

Light at import: the workflow reads it when it plans a run.

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

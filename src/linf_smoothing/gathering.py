"""The gathering of an experiment's certification shards into one file, each shard checked
against what made it first."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from linf_smoothing.checks import expected_images, file_digest
from linf_smoothing.results import atomic_path, load_certification, read_description, write_description
from linf_smoothing.shards import shard_damage


def gather_certifications(shard_paths: Sequence[Path], out: Path) -> int:
    """Concatenate shard TSVs (in shard order) into ``out`` with one header, and their
    descriptions into one (without the shard's number, with the gathered rows' digest);
    return the row count.

    Each shard is checked against what made it first (``results.load_certification``). Rows
    are copied as text, so the gathered file holds exactly the shards' bytes. Raises
    ValueError, naming the file and row, if a shard has no description or another run's, is
    out of place, damaged, or not what its description says."""
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
        load_certification(path, shard=True)
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

"""What every benchmark shares: interleaved timing rounds, device synchronisation, CSV output.

Rates are medians over rounds in which every contender runs once, in turn, so a busy or
throttling machine slows all contenders alike.
"""
from __future__ import annotations

import csv
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch


def add_timing_arguments(parser, batch_help: str, out: str) -> None:
    """The options of every throughput benchmark: its batch (``batch_help`` says its default
    on each device), batches per timed call, rounds, the device and the CSV (default ``out``)."""
    parser.add_argument("--batch-size", type=int, default=None, help=batch_help)
    parser.add_argument("--batches", type=int, default=2, help="batches per timed call")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds; each rate is the median over them")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cuda or cpu")
    parser.add_argument("--out", type=Path, default=Path(out), help="CSV of the rates")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_rates(contenders: dict[str, Callable[[], None]], items: int, rounds: int,
                      device: torch.device) -> dict[str, float]:
    """items/s of each contender (each call processes ``items``), median over ``rounds``."""
    for fn in contenders.values():  # warm-up: allocations, compilation, caches
        fn()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: items / statistics.median(t) for name, t in times.items()}


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def write_csv(rows: list[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def report(rows: list[dict], path: Path) -> list[dict]:
    """Write the rows to a CSV and print them, one line of key=value pairs each."""
    print(f"wrote {write_csv(rows, path)}")
    for row in rows:
        print(", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return rows


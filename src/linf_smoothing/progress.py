"""Progress through long work (an epoch's batches, a certification shard's images), with its
rate and the time left: a bar redrawn in place where the stream is a terminal, a log line now
and then where it is a file (the workflow's logs).

A log line comes when 5% more of the work is done and 30 s have passed since the last one, or
when 10 minutes have passed: at most 20 lines for a piece of work under 10 minutes, none for
one under 30 s (the caller's own line at the end says how it went), and one per 10 minutes
for a long one. Updating reads the clock and nothing else, so a loop that calls it per batch
waits for no device.
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import Callable, TextIO

LOG_FRACTION = 0.05
LOG_MIN_SECONDS = 30.0
LOG_MAX_SECONDS = 600.0
# How often a terminal's bar is redrawn: often enough to look live, rarely enough to cost nothing.
REDRAW_SECONDS = 0.2
BAR_WIDTH = 20


def clock_time(seconds: float) -> str:
    """``seconds`` as h:mm:ss (hours beyond 24 kept as hours)."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


class Progress:
    """Progress of ``what`` (e.g. "epoch 3/55") through ``total`` items (``unit``: "batches",
    "images"), of which ``start`` were done before (a resumed shard), at a rate counted in
    ``rate_unit`` ("images", "samples"). ``enabled=False`` makes every call do nothing (the
    library's default, and every process of a data-parallel run but the main one)."""

    def __init__(self, what: str, total: int, unit: str, rate_unit: str, log: logging.Logger, *, start: int = 0,
                 enabled: bool = True, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit, self.rate_unit, self.log = what, total, unit, rate_unit, log
        self.start, self.enabled, self.clock = start, enabled and total > start, clock
        self.stream = sys.stderr if stream is None else stream
        self.terminal = self.enabled and self.stream.isatty()
        self.began = self.last_shown = clock()
        self.last_logged_done = start
        self.shown_width = 0

    def update(self, done: int, work: float, note: str = "") -> None:
        """``done`` items of ``total`` are finished, and ``work`` units of the rate (images,
        samples) were processed since this object was made; ``note`` is appended (e.g. the
        accuracy so far)."""
        if not self.enabled:
            return
        now = self.clock()
        since = now - self.last_shown
        if self.terminal:
            if since >= REDRAW_SECONDS or done >= self.total:
                self._draw(self._status(done, work, now, note), done)
                self.last_shown = now
        elif done < self.total and (since >= LOG_MAX_SECONDS or (
                since >= LOG_MIN_SECONDS and done - self.last_logged_done >= LOG_FRACTION * self.total)):
            self.log.info("%s: %s", self.what, self._status(done, work, now, note))
            self.last_shown, self.last_logged_done = now, done

    def close(self) -> None:
        """Clear a terminal's bar, so that the caller's next line starts on a clean line."""
        if self.terminal and self.shown_width:
            self.stream.write("\r" + " " * self.shown_width + "\r")
            self.stream.flush()
            self.shown_width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _status(self, done: int, work: float, now: float, note: str) -> str:
        elapsed = max(now - self.began, 1e-9)
        here = done - self.start
        left = elapsed / here * (self.total - done) if here > 0 else float("nan")
        text = (f"{done:,}/{self.total:,} {self.unit} ({100 * done / self.total:.0f}%), "
                f"{_rate(work / elapsed)} {self.rate_unit}/s, {clock_time(left) if here > 0 else '?'} left")
        return f"{text}, {note}" if note else text

    def _draw(self, status: str, done: int) -> None:
        filled = BAR_WIDTH * done // self.total
        line = f"{self.what} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {status}"
        line = line[:max(20, shutil.get_terminal_size((100, 24)).columns - 1)]
        self.stream.write("\r" + line + " " * max(0, self.shown_width - len(line)))
        self.stream.flush()
        self.shown_width = len(line)

"""Progress within long work: how many lines a log gets, and what a terminal's bar shows, on a
clock the test drives."""
import io
import logging
import re

import pytest

from linf_smoothing import progress
from linf_smoothing.progress import Progress, clock_time


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(seconds: float, items: int, stream=None, caplog=None, start: int = 0, **kwargs) -> list[str]:
    """Work through ``items`` batches of 64 images at a constant pace over ``seconds``; the log
    lines it wrote."""
    clock = Clock()
    log = logging.getLogger("test_progress")
    with caplog.at_level(logging.INFO, "test_progress"):
        caplog.clear()
        with Progress("epoch 1/3", items, "batches", "images", log, start=start, stream=stream or io.StringIO(),
                      clock=clock, **kwargs) as shown:
            for done in range(start + 1, items + 1):
                clock.now += seconds / (items - start)
                shown.update(done, 64 * (done - start))
        return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(("seconds", "lines"), [
    (20, 0),           # shorter than 30 s: the caller's own line at the end is enough
    (600, 19),         # 10 minutes: a line per 30 s (5% = 30 s), none at 100% (the caller's)
    (7200, 19),        # 2 hours: a line per 5% (6 minutes), not per 30 s
    (36_000, 59),      # 10 hours: a line per 10 minutes, not per 5% (30 minutes)
])
def test_a_log_gets_a_line_per_5_percent_and_30_seconds_or_per_10_minutes(caplog, seconds, lines):
    assert len(run(seconds, 2400, caplog=caplog)) == lines


def test_a_log_line_says_what_is_done_the_rate_and_the_time_left(caplog):
    """Ten minutes for 1200 batches of 64 images: 128 images/s; after the first 30 s and 5% (60
    batches), 570 s are left."""
    first = run(600, 1200, caplog=caplog)[0]
    assert first == "epoch 1/3: 60/1,200 batches (5%), 128 images/s, 0:09:30 left"


def test_a_resumed_run_counts_its_rate_and_time_left_from_where_it_resumed(caplog):
    lines = run(600, 1200, caplog=caplog, start=600)  # half done before; the rest at 1 s a batch
    assert lines[0] == "epoch 1/3: 660/1,200 batches (55%), 64 images/s, 0:09:00 left"


def test_a_terminal_gets_a_bar_redrawn_in_place_and_cleared_at_the_end(caplog):
    terminal = Terminal()
    lines = run(62.5, 1000, stream=terminal, caplog=caplog)  # 1/16 s a batch of 64 images
    assert lines == []  # the bar replaces the log lines
    text = terminal.getvalue()
    draws = text.split("\r")[1:-2]  # the last two: the blanking spaces, then the empty rest
    assert len(draws) == 250  # one per 0.2 s (every 4th update), not one per update
    assert draws[-1].rstrip() == ("epoch 1/3 [####################] 1,000/1,000 batches (100%), 1,024 images/s, "
                                  "0:00:00 left")
    assert re.fullmatch(r"epoch 1/3 \[#{10}\.{10}\] 500/1,000 batches \(50%\), 1,024 images/s, 0:00:31 left *",
                        next(d for d in draws if " 500/" in d))
    assert text.endswith("\r" + " " * len(draws[-1].rstrip()) + "\r")


def test_disabled_progress_writes_nothing(caplog):
    terminal = Terminal()
    assert run(600, 100, stream=terminal, caplog=caplog, enabled=False) == [] and terminal.getvalue() == ""


def test_the_time_left_reads_as_hours_minutes_seconds():
    assert [clock_time(s) for s in (0, 59.6, 3600, 90061)] == ["0:00:00", "0:01:00", "1:00:00", "25:01:01"]


def test_a_terminal_is_redrawn_at_most_five_times_a_second():
    """Updated per batch, the bar must not cost the loop a write per batch."""
    clock, stream = Clock(), Terminal()
    shown = Progress("x", 10_000, "batches", "images", logging.getLogger("x"), stream=stream, clock=clock)
    for done in range(1, 100):
        clock.now += progress.REDRAW_SECONDS / 10
        shown.update(done, done)
    assert stream.getvalue().count("\r") <= 10

"""One progress style for every long command, so that no long run is silent.

On a terminal, click's bar with our own estimate beside it (click's own appears only after a second's worth of
steps, so a slow first photo would show none); anywhere else (nohup, CI, a pipe) a plain line every few
seconds, which a log keeps: `explaining: 120/1000 photos (24.0/s, about 36 s left)`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from types import TracebackType

    from click._termui_impl import ProgressBar

# Seconds between two plain lines; the tests set 0 to see one per step.
INTERVAL_ENV = "OV_RECIPROCAM_PROGRESS_SECONDS"
INTERVAL = 5.0


def duration(seconds: float) -> str:
    """`0.3 s`, `36 s`, `4 min 10 s`, `2 h 5 min`: as precise as an estimate deserves."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{round(s / 60)} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Progress:
    """Steps of a long run, shown as a bar on a terminal and as a line every few seconds elsewhere.

    unit: what a step is ("photos"); None for a run measured in fractions (bench), shown as a percentage.
    terminal: draw the bar on a terminal; False where a library draws its own there (NNCF), which two bars on
    one line would garble.
    """

    def __init__(self, label: str, total: int, unit: str | None = "photos", terminal: bool = True) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.shown = terminal or not sys.stderr.isatty()
        self.pos = 0
        self.interval = float(os.environ.get(INTERVAL_ENV, INTERVAL))
        self.bar: ProgressBar[int] | None = None
        self.start = self.said = time.perf_counter()
        self.said_pos = 0

    def __enter__(self) -> Progress:
        if self.shown and sys.stderr.isatty():
            bar: ProgressBar[int] = click.progressbar(
                length=self.total,
                label=self.label,
                file=sys.stderr,
                show_eta=False,
                show_pos=self.unit is not None,
                item_show_func=lambda _: self.estimate(),
            )
            self.bar = bar.__enter__()
        elif self.shown:
            click.echo(f"{self.label}: {self.total} {self.unit}" if self.unit else f"{self.label}...", err=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(kind, exc, traceback)
        elif self.shown and kind is None and self.said_pos < self.pos:
            self.say()  # the total, whatever the interval: a log ends with what was done

    def update(self, steps: int = 1) -> None:
        self.pos += steps
        if self.bar is not None:
            self.bar.update(steps)
        elif self.shown and time.perf_counter() - self.said >= self.interval:
            self.say()

    def echo(self, message: str) -> None:
        """A line on stderr during the run: on a terminal below the bar's line, which the next step redraws."""
        click.echo(f"\n{message}" if self.bar is not None else message, err=True)

    def estimate(self) -> str | None:
        """`24.0/s, about 36 s left` (per step, for slow steps), from the steps so far; None before the first."""
        elapsed = time.perf_counter() - self.start
        if not self.pos or elapsed <= 0:
            return None
        rate = self.pos / elapsed
        left = f"about {duration((self.total - self.pos) / rate)} left" if self.pos < self.total else "done"
        if self.unit is None:
            return left
        speed = f"{rate:.1f}/s" if rate >= 1 else f"{duration(1 / rate)} each"
        return f"{speed}, {left}"

    def say(self) -> None:
        self.said, self.said_pos = time.perf_counter(), self.pos
        done = f"{self.pos}/{self.total} {self.unit}" if self.unit else f"{100 * self.pos // max(self.total, 1)}%"
        click.echo(f"{self.label}: {done} ({self.estimate()})", err=True)

"""Terminal output: the live progress bar, one-line errors and the end-of-run summary table."""

from __future__ import annotations

import logging
import math
import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from gan_cli.report.scores import brief

log = logging.getLogger("gan")
console = Console(stderr=True)


def error_line(message: str) -> None:
    """The one line a user error ends with."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


class _TwoLineProgress(Progress):
    """The bar, counts and ETA on one line; the latest score and the losses on the next, cut at
    the terminal's edge, so that a narrow terminal never squeezes the bar or the ETA."""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            line = Text.from_markup(f"  {task.fields.get('score', '')}  {task.fields.get('info', '')}".rstrip())
            line.no_wrap, line.overflow = True, "ellipsis"
            yield line


class TrainingProgress:
    """A rich progress bar with ETA and live losses on a terminal; plain log lines elsewhere
    (files, CI, Slurm), so logs stay readable."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.total = total
        self.live = enabled and console.is_terminal
        self._last_log = time.perf_counter()
        self._progress = None
        if self.live:
            self._progress = _TwoLineProgress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task("train", total=total, completed=start, rate="", info="", score="")

    def __enter__(self):
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()

    def advance(self, step: int) -> None:
        if self._progress:
            self._progress.update(self._task, completed=step)

    def report(self, step: int, row: dict) -> None:
        info = " ".join(f"{k}={v:.3g}" for k, v in row.items() if k.startswith(("d/", "g/")) and isinstance(v, float))
        rate = f"{row.get('images_per_s', 0):.0f} img/s"
        if self._progress:
            self._progress.update(self._task, completed=step, rate=rate, info=info)
        else:
            log.info("step %d/%d  %s  %s", step, self.total, rate, info)

    def score(self, step: int, scores: dict) -> None:
        """The latest evaluation (the ranking scores: FID, or modes and reverse KL)."""
        text = brief(scores)
        if not text:
            return
        if self._progress:
            self._progress.update(self._task, score=f"[cyan]{text} @{step}[/]")
        else:
            log.info("step %d/%d  scores: %s", step, self.total, text)


def summary_table(title: str, rows: dict) -> None:
    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        if isinstance(value, dict):  # nested details (score provenance) stay in summary.json
            continue
        if isinstance(value, float):  # summary.json writes a non-finite value as null: n/a, not inf
            value = f"{value:.4g}" if math.isfinite(value) else "n/a"
        table.add_row(str(key), str(value))
    out = Console(file=sys.stdout)
    out.print(title, highlight=False, soft_wrap=True)
    out.print(table)

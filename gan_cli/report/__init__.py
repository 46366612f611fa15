"""`gan report DIR`: compare the runs of a sweep at a glance.

runs.py finds and reads run folders; table.py groups them into configurations and aggregates
seeds; output.py prints the table and writes it as CSV and Markdown; plots.py draws the figures;
page.py writes them all into one self-contained report.html.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console
from rich.markup import escape

from gan_cli.errors import GanError

USAGE = "usage: gan report DIR [out=DIR] [sort=SCORE] [plots=false] [--watch[=SECONDS]]"
# Statuses after which a run changes no more: --watch stops once every run has one.
DONE = {"finished", "diverged", "failed", "stopped", "unknown"}


def run_report(cfg) -> dict:
    """Write the report once; with `watch` > 0 (`gan report --watch DIR`) again every `watch`
    seconds until every run of the folder is done (or Ctrl-C), for a sweep in flight."""
    from gan_cli.report.runs import collect_runs

    if OmegaConf.is_missing(cfg, "dir"):
        raise GanError(f"which runs? {USAGE}, e.g. gan report outputs/multirun/<date>/<time>")
    root = Path(cfg.dir).expanduser()
    if not root.is_dir():
        raise GanError(f"{root} is not a folder: pass a run folder or a sweep folder (outputs/multirun/<date>/<time>)")
    watch = float(cfg.get("watch") or 0)
    if watch < 0:
        raise GanError(f"watch={watch:g}: pass a number of seconds > 0 (--watch=30), or leave it out to write once")
    # Piped into a file or a pager, rich would assume 80 columns and squeeze the table.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    console = Console(file=sys.stdout, width=width)
    passes = 0
    try:
        while True:
            runs = collect_runs(root)
            if runs or not watch:  # a sweep being watched may not have started its first job yet
                result = write_report(cfg, root, runs, console, full=passes == 0)
                passes += 1
                if not watch or all(run.status in DONE for run in runs):
                    return {**result, "passes": passes}
            time.sleep(watch)
    except KeyboardInterrupt:  # --watch ends with Ctrl-C: the page written last stays
        console.print("stopped watching", highlight=False)
        return {"passes": passes}


def write_report(cfg, root: Path, runs: list, console: Console, full: bool = True) -> dict:
    """Every file of the report; the table on the terminal (`full`), or one line (a --watch pass)."""
    from gan_cli.report.output import print_report, write_csv, write_markdown
    from gan_cli.report.page import notes_for, write_html
    from gan_cli.report.search import read_search, search_lines
    from gan_cli.report.table import build_report, fmt_status

    if not runs:
        raise GanError(f"{root} holds no `gan train` run folders (a run folder has summary.json, metrics.jsonl "
                       "or .hydra/config.yaml): pass a run folder or a sweep folder")
    report = build_report(root, runs, cfg.sort)
    out = Path(cfg.out).expanduser() if cfg.out else root / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write_test").touch()
        (out / ".write_test").unlink()
    except OSError as e:
        raise GanError(f"cannot write the report to {out} ({e.strerror}): pass out=DIR") from None

    search = read_search(root)  # a hyperparameter search (hydra/sweeper=optuna): its best trial
    found = search_lines(search) if search else []
    if full:
        print_report(report, console)
        for line in found:
            console.print(line, highlight=False, soft_wrap=True)
    write_csv(report, out / "report.csv")
    images = []
    if cfg.plots:
        from gan_cli.report.plots import plot_search, write_plots

        images = write_plots(report, out)
        if search and (figure := plot_search(search, out / "search.png")):
            images.append(figure)
    write_markdown(report, out / "report.md", images)
    write_html(report, out / "report.html", images, notes_for(report) + found)
    if not full:
        counts = Counter(run.status for run in runs)
        console.print(f"{time.strftime('%H:%M:%S')} {out / 'report.html'} updated: {fmt_status(counts)}",
                      highlight=False, soft_wrap=True)
        return {"runs": len(runs), "configurations": len(report.rows), "out": str(out)}
    written = ", ".join(p.name for p in [out / "report.html", out / "report.csv", out / "report.md", *images])
    console.print(f"written to {out}: {written}", highlight=False, soft_wrap=True)
    unreadable = [run.name for row in report.rows for run in row.runs if run.problems]
    if unreadable:  # one line: the page says which file and what
        console.print(escape(f"unreadable files in {len(unreadable)} run(s) ({', '.join(unreadable[:3])}"
                             f"{', ...' if len(unreadable) > 3 else ''}): listed under Problems in report.html"),
                      style="yellow", highlight=False, soft_wrap=True)
    return {"runs": len(runs), "configurations": len(report.rows), "out": str(out)}

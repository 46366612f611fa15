"""`gan report DIR`: compare the runs of a sweep at a glance.

runs.py finds and reads run folders; table.py groups them into configurations and aggregates
seeds; output.py prints the table and writes it as CSV and Markdown; plots.py draws the figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console

from gan_cli.errors import GanError

USAGE = "usage: gan report DIR [out=DIR] [sort=SCORE] [plots=false]"


def run_report(cfg) -> dict:
    from gan_cli.report.output import print_report, write_csv, write_markdown
    from gan_cli.report.runs import collect_runs
    from gan_cli.report.search import read_search, search_lines
    from gan_cli.report.table import build_report

    if OmegaConf.is_missing(cfg, "dir"):
        raise GanError(f"which runs? {USAGE}, e.g. gan report outputs/multirun/<date>/<time>")
    root = Path(cfg.dir).expanduser()
    if not root.is_dir():
        raise GanError(f"{root} is not a folder: pass a run folder or a sweep folder (outputs/multirun/<date>/<time>)")
    runs = collect_runs(root)
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

    # Piped into a file or a pager, rich would assume 80 columns and squeeze the table.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    console = Console(file=sys.stdout, width=width)
    print_report(report, console)
    search = read_search(root)  # a hyperparameter search (hydra/sweeper=optuna): its best trial
    for line in search_lines(search) if search else []:
        console.print(line, highlight=False, soft_wrap=True)
    write_csv(report, out / "report.csv")
    images = []
    if cfg.plots:
        from gan_cli.report.plots import plot_search, write_plots

        images = write_plots(report, out)
        if search and (figure := plot_search(search, out / "search.png")):
            images.append(figure)
    write_markdown(report, out / "report.md", images)
    written = ", ".join(p.name for p in [out / "report.csv", out / "report.md", *images])
    console.print(f"written to {out}: {written}", highlight=False, soft_wrap=True)
    return {"runs": len(runs), "configurations": len(report.rows), "out": str(out)}

"""The report's table on the terminal (rich), as CSV (raw numbers, for scripts) and as Markdown
(the terminal's texts, with the plots embedded)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gan_cli.report.runs import Run
from gan_cli.report.table import (
    PARTIAL,
    Report,
    Row,
    fmt_duration,
    fmt_stat,
    fmt_status,
    fmt_steps,
    score_header,
    scored_runs,
)

STATUS_STYLE = {"finished": "green", "running": "yellow", "pending": "dim", "stopped": "magenta",
                "unknown": "red",
                "diverged": "red", "failed": "bold red"}


def caption(report: Report) -> list[str]:
    lines = []
    if report.common:
        lines.append("common overrides: " + " ".join(f"{k}={v}" for k, v in report.common.items()))
    if report.sort_keys:
        lines.append("sorted by " + ", then ".join(score_header(k) for k in report.sort_keys)
                     + "; scores are mean ± std over seeds (sample std, ddof=1)")
    if any(stat.partial for row in report.rows for stat in row.scores.values()):
        lines.append(f"{PARTIAL} includes the latest evaluation of a run that has not finished")
    return lines


def _cells(report: Report, row: Row) -> dict[str, str]:
    """Column header -> text, shared by all three outputs."""
    cells = {key: row.config[key] for key in report.key_columns}
    if not report.key_columns:
        cells["configuration"] = row.label
    for key in report.score_keys:
        cells[score_header(key)] = fmt_stat(key, row.scores[key], scored_runs(row)) if key in row.scores else "-"
    cells["seeds"] = ",".join(map(str, row.seeds)) or "-"
    cells["status"] = fmt_status(row.status)
    cells["steps"] = fmt_steps(row)
    cells["wall time"] = fmt_duration(row.wall_time_s)
    return cells


def _is_best(report: Report, row: Row, key: str) -> bool:
    best = report.best_value(key)
    return best is not None and key in row.scores and math.isclose(row.scores[key].mean, best, rel_tol=1e-12)


def failure_lines(report: Report) -> list[tuple[str, Run]]:
    return [(row.label, run) for row in report.rows for run in row.failures]


# ----------------------------------------------------------------------------- terminal
def print_report(report: Report, console: Console) -> None:
    best = report.best
    table = Table(title=escape(f"gan report: {report.root}"), title_justify="left", caption_justify="left",
                  caption=escape("\n".join(caption(report))) or None)
    cells = [_cells(report, row) for row in report.rows]
    headers = list(cells[0]) if cells else []
    config_columns = len(report.key_columns) or 1
    for i, header in enumerate(headers):
        numeric = i >= config_columns and header not in ("status", "seeds")
        table.add_column(header, justify="right" if numeric else "left", style="bold" if i < config_columns else None)
    for row, row_cells in zip(report.rows, cells):
        texts = []
        for header, text in row_cells.items():
            style = ""
            key = next((k for k in report.score_keys if score_header(k) == header), None)
            if key and _is_best(report, row, key):
                style = "bold green"
            if header == "status":
                style = STATUS_STYLE.get(next(iter(row.status)), "") if len(row.status) == 1 else "yellow"
            texts.append(Text(text, style=style))
        if row is best:
            texts[0] = Text("★ " + texts[0].plain, style="bold green")
        table.add_row(*texts)
    console.print(table)
    for label, run in failure_lines(report):
        console.print(f"[red]{run.status}[/] " + escape(f"{label} seed {run.seed} ({run.name}): {run.error}"),
                      highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------- files
def write_csv(report: Report, path: Path) -> None:
    """Raw numbers: `<score>` is the mean over seeds, `<score>_std` the sample std, `<score>_n`
    the number of seeds with a value. hq_fraction stays a fraction."""
    header = [*report.keys, "configuration", "runs", "seeds", "status", "steps", "wall_time_s"]
    for key in report.score_keys:
        header += [key, f"{key}_std", f"{key}_n"]
    header.append("errors")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in report.rows:
            line = [*row.config.values(), row.label, len(row.runs), " ".join(map(str, row.seeds)),
                    fmt_status(row.status), fmt_steps(row),
                    "" if row.wall_time_s is None else round(row.wall_time_s, 2)]
            for key in report.score_keys:
                stat = row.scores.get(key)
                line += ["", "", 0] if stat is None else [repr(stat.mean), "" if stat.std is None else repr(stat.std), stat.n]
            line.append("; ".join(f"seed {run.seed}: {run.error}" for run in row.failures))
            writer.writerow(line)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(report: Report, images: list[Path]) -> str:
    best = report.best
    cells = [_cells(report, row) for row in report.rows]
    headers = list(cells[0]) if cells else []
    lines = [f"# gan report: {report.name}", ""]
    lines += [f"{line}  " for line in caption(report)]
    if best is not None:
        lines.append(f"best: **{_md(best.label)}** (★)  ")
    lines += ["", "| " + " | ".join(map(_md, headers)) + " |",
              "|" + "|".join("---" if i < (len(report.key_columns) or 1) or h in ("status", "seeds") else "---:"
                             for i, h in enumerate(headers)) + "|"]
    for row, row_cells in zip(report.rows, cells):
        texts = []
        for header, text in row_cells.items():
            key = next((k for k in report.score_keys if score_header(k) == header), None)
            texts.append(f"**{_md(text)}**" if key and _is_best(report, row, key) else _md(text))
        if row is best:
            texts[0] = "★ " + texts[0]
        lines.append("| " + " | ".join(texts) + " |")
    failures = failure_lines(report)
    if failures:
        lines += ["", "## Problems", ""]
        lines += [f"- {run.status}: {_md(label)}, seed {run.seed} (`{run.name}`): {_md(run.error)}" for label, run in failures]
    if images:
        lines += ["", "## Plots", ""]
        lines += [f"![{image.stem}]({image.name})" for image in images]
    return "\n".join(lines) + "\n"


def write_markdown(report: Report, path: Path, images: list[Path]) -> None:
    path.write_text(markdown(report, images))

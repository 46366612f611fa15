"""report.html: the report as one self-contained page (styles and script inline, every image a
data: URI), so that it opens from a copied folder, an e-mail or a laptop without a network.

The page is rendered with Jinja2 (a dependency of PyTorch, so nothing new to install) with
autoescaping on: every text taken from run folders (overrides, folder names, error messages) is
HTML-escaped by the template engine, never by hand.
"""

from __future__ import annotations

import base64
import datetime
import math
from pathlib import Path

import jinja2

from gan_cli.report.output import _cells, _is_best, caption, failure_lines
from gan_cli.report.table import Report, Row, score_header

# The figures plots.py writes that the page shows, in this order, with a heading each (the sample
# montage is not among them: the page lays out the grids itself, one per configuration).
FIGURES = {
    "score_curves.png": "Scores during training",
    "search.png": "Search: objective against trial",
    "final_scores.png": "Final scores",
    "training_curves.png": "Training curves",
}


def data_uri(path: Path) -> str | None:
    """A PNG as a data: URI; None when it cannot be read (a grid being written right now)."""
    try:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return None


def _sort_value(report: Report, row: Row, header: str) -> str:
    """What a column sorts by: the mean of a score (not its text "7.00 ± 1.41"), seconds for the
    wall time; empty for no value (always sorted last)."""
    key = next((k for k in report.score_keys if score_header(k) == header), None)
    if key is not None:
        stat = row.scores.get(key)
        if stat is None or math.isnan(stat.mean):
            return ""
        return repr(stat.mean) if math.isfinite(stat.mean) else ("1e308" if stat.mean > 0 else "-1e308")
    if header == "wall time":
        return "" if row.wall_time_s is None else repr(row.wall_time_s)
    if header == "n":
        return str(len(row.seeds))
    return ""


def table(report: Report) -> tuple[list[dict], list[dict]]:
    """(columns, rows) of the page's table: the terminal's cells plus the number of seeds."""
    columns, rows = [], []
    best = report.best
    for row in report.rows:
        cells = _cells(report, row)
        cells = {**{k: v for k, v in cells.items() if k != "seeds"}, "n": str(len(row.seeds)), "seeds": cells["seeds"]}
        if not columns:
            config_columns = len(report.key_columns) or 1
            numeric = {score_header(k) for k in report.score_keys} | {"n", "wall time"}
            columns = [{"name": name, "numeric": name in numeric, "config": i < config_columns}
                       for i, name in enumerate(cells)]
        rows.append({
            "best": row is best,
            "cells": [{
                "text": text,
                "sort": _sort_value(report, row, name),
                "best": any(score_header(k) == name and _is_best(report, row, k) for k in report.score_keys),
            } for name, text in cells.items()],
        })
    return columns, rows


def sample_grids(report: Report) -> list[dict]:
    """One grid per configuration: the final grid (or the latest, for a run on its way) of its
    lowest seed that has one, captioned with the configuration's overrides and that seed."""
    grids = []
    for row in report.rows:
        run = next((r for r in row.runs if r.samples is not None), None)
        uri = data_uri(run.samples) if run else None
        grids.append({
            "label": row.label,
            "best": row is report.best,
            "uri": uri,
            "note": (f"seed {run.seed}, {run.samples.stem}" if uri else
                     "no samples yet" if run is None else "sample grid unreadable (being written?)"),
        })
    return grids


def problems(report: Report, notes: list[str]) -> list[dict]:
    """Failed and stopped runs with their error, then files that could not be read."""
    items = [{"kind": run.status, "where": f"{label}, seed {run.seed} ({run.name})", "text": run.error}
             for label, run in failure_lines(report)]
    items += [{"kind": "unreadable", "where": run.name, "text": text}
              for row in report.rows for run in row.runs for text in run.problems]
    items += [{"kind": "note", "where": "", "text": text} for text in notes]
    return items


def notes_for(report: Report) -> list[str]:
    """What a reader should know before comparing the rows: runs still on their way, and 2-D and
    image runs mixed in one folder (they share no score, so neither ranks the other)."""
    notes = []
    runs = [run for row in report.rows for run in row.runs]
    running = [run for run in runs if run.status == "running"]
    if running:
        many = len(running) > 1
        notes.append(f"{len(running)} run{'s are' if many else ' is'} still running: "
                     f"{'their' if many else 'its'} scores and samples are the latest so far")
    toy = [row.label for row in report.rows if any("modes" in run.scores for run in row.runs)]
    image = [row.label for row in report.rows if any("fid" in run.scores for run in row.runs)]
    if toy and image:
        notes.append(f"2-D and image runs are mixed in this folder: {len(toy)} configuration(s) scored by modes, "
                     f"{len(image)} by FID; rows are ranked by {', '.join(report.sort_keys)} and the others follow")
    return notes


def render(report: Report, figures: list[Path], notes: list[str]) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    columns, rows = table(report)
    by_name = {path.name: path for path in figures}
    shown = [{"title": title, "uri": data_uri(by_name[name])} for name, title in FIGURES.items() if name in by_name]
    return env.from_string(TEMPLATE).render(
        name=report.name,
        root=str(report.root),
        caption=caption(report),
        columns=columns,
        rows=rows,
        figures=[f for f in shown if f["uri"]],
        grids=sample_grids(report),
        problems=problems(report, notes),
        generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def write_html(report: Report, path: Path, figures: list[Path], notes: list[str]) -> None:
    """Written to a temporary file and renamed: a browser (or `--watch`'s reload) never sees half
    a page."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(report, figures, notes), encoding="utf-8")
    tmp.replace(path)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gan report: {{ name }}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto;
         max-width: 1240px; padding: 16px 20px 40px; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
  .meta, .caption { color: #666; font-size: 12px; margin: 2px 0; }
  .scroll { overflow-x: auto; }
  table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
  th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; white-space: nowrap; }
  th { background: #f4f4f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
  th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 10px; }
  th[aria-sort=descending]::after { content: " \\25BC"; font-size: 10px; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.config { font-weight: 600; }
  td.best { color: #0a7a2f; font-weight: 700; }
  tr.best td:first-child::before { content: "\\2605 "; color: #0a7a2f; }
  ul.problems { padding-left: 18px; } ul.problems li { margin: 3px 0; }
  .kind { display: inline-block; min-width: 76px; font-weight: 600; color: #b00020; }
  .kind.note { color: #8a6d00; }
  .where { color: #444; }
  img.figure { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
  .grids { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 14px; }
  figure { margin: 0; } figure img { width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #eee; }
  figcaption { font-size: 12px; margin-top: 4px; word-break: break-word; }
  figcaption .seed { color: #666; }
  .missing { height: 120px; display: flex; align-items: center; justify-content: center; color: #888;
             border: 1px dashed #ccc; font-size: 12px; }
</style>
</head>
<body>
<h1>gan report: {{ name }}</h1>
<p class="meta">{{ root }} &middot; written {{ generated }}</p>
{% for line in caption %}<p class="caption">{{ line }}</p>
{% endfor %}
<h2>Configurations</h2>
<p class="caption">Click a column header to sort by it; mean &plusmn; std over seeds, n: seeds;
best value per score in green, &#9733; the best configuration.</p>
<div class="scroll">
<table id="runs">
<thead><tr>
{% for column in columns %}<th data-col="{{ loop.index0 }}"{% if column.numeric %} class="num" data-numeric="1"{% endif %}>{{ column.name }}</th>
{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr{% if row.best %} class="best"{% endif %}>
{% for cell in row.cells %}<td data-sort="{{ cell.sort }}" class="{% if columns[loop.index0].numeric %}num{% endif %}{% if columns[loop.index0].config %} config{% endif %}{% if cell.best %} best{% endif %}">{{ cell.text }}</td>
{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</div>
{% if problems %}
<h2 id="problems">Problems</h2>
<ul class="problems">
{% for item in problems %}<li><span class="kind {{ item.kind }}">{{ item.kind }}</span> {% if item.where %}<span class="where">{{ item.where }}:</span> {% endif %}{{ item.text }}</li>
{% endfor %}</ul>
{% endif %}
{% for figure in figures %}
<h2>{{ figure.title }}</h2>
<img class="figure" alt="{{ figure.title }}" src="{{ figure.uri }}">
{% endfor %}
<h2>Samples</h2>
<div class="grids">
{% for grid in grids %}<figure>
{% if grid.uri %}<img alt="samples: {{ grid.label }}" src="{{ grid.uri }}">{% else %}<div class="missing">{{ grid.note }}</div>{% endif %}
<figcaption>{% if grid.best %}&#9733; {% endif %}{{ grid.label }} <span class="seed">({{ grid.note }})</span></figcaption>
</figure>
{% endfor %}</div>
<script>
// Sort the table by a clicked column: scores by their mean (data-sort), texts alphabetically;
// rows without a value stay last in both directions.
document.querySelectorAll("#runs th").forEach(function (th) {
  th.addEventListener("click", function () {
    var col = Number(th.dataset.col), numeric = th.dataset.numeric === "1";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    document.querySelectorAll("#runs th").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = document.querySelector("#runs tbody");
    var rows = Array.prototype.slice.call(body.rows);
    function key(row) {
      var cell = row.cells[col];
      return numeric ? cell.dataset.sort : cell.textContent.trim();
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var order = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
</script>
</body>
</html>
"""

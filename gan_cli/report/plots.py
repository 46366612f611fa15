"""The report's figures (PNG, matplotlib's Agg backend): training curves, score curves, final
scores, and a montage of the final sample grids. One colour per configuration, the same in
every figure; a line is the mean over seeds and the band spans the seeds (min to max)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from gan_cli.report import scores as catalog
from gan_cli.report.table import PARTIAL, Report, Row, score_header

# Panels of the training figure, in this order when present; other logged keys follow.
TRAINING_PANELS = {
    "d/loss": ("D loss (total)", "loss"),
    "g/loss": ("G loss (total)", "loss"),
    "d/d_real": ("D output on real data", "mean D output"),
    "d/d_fake": ("D output on generated data", "mean D output"),
    "g/d_fake_g": ("D output on generated data (G step)", "mean D output"),
    "d/grad_norm": ("D gradient norm", "norm"),
    "g/grad_norm": ("G gradient norm", "norm"),
}
NOT_PLOTTED = {"step", "time_s", "images_per_s"}
MAX_PANELS = 12
STEP_LABEL = "step (generator updates)"
BAND_NOTE = "line: mean over seeds; band (or whiskers): min–max over seeds"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, safe on servers and in threads
    import matplotlib.pyplot as plt

    return plt


def colours(n: int) -> list:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def short_label(row: Row, width: int = 40) -> str:
    return textwrap.shorten(row.label, width=width, placeholder="…")


# ----------------------------------------------------------------------------- series
def series(runs, rows_of, key: str, scale: float = 1.0):
    """(steps, mean, low, high, seeds per step) of one key over a configuration's runs."""
    per_run = []
    for run in runs:
        points = {}
        for r in rows_of(run):
            step = r.get("step")
            if key in r and isinstance(step, (int, float)) and not isinstance(r[key], (str, bool, dict, list)):
                points[int(step)] = catalog.as_number(key, r[key]) * scale
        if points:
            per_run.append(points)
    steps = sorted(set().union(*per_run)) if per_run else []
    mean, low, high, count = [], [], [], []
    for step in steps:
        values = [p[step] for p in per_run if step in p and not math.isnan(p[step])]
        if any(math.isinf(v) for v in values):  # e.g. reverse KL with no high-quality sample
            mean.append(max(values, key=abs))
            low.append(math.nan)
            high.append(math.nan)
            count.append(0)
            continue
        mean.append(float(np.mean(values)) if values else math.nan)
        low.append(min(values) if values else math.nan)
        high.append(max(values) if values else math.nan)
        count.append(len(values))
    return np.array(steps), np.array(mean), np.array(low), np.array(high), np.array(count)


def _draw(ax, steps, mean, low, high, count, colour, label):
    few = len(steps) <= 5  # a handful of evaluations: markers and whiskers read better than a band
    infinite = np.isinf(mean)
    if infinite.any():
        # A mean that is infinite for some seed is not dropped (that would flatter the curve):
        # a triangle at the top edge marks the step.
        ax.plot(steps[infinite], np.full(infinite.sum(), 0.97), ls="none", marker="^", ms=7, color=colour,
                transform=ax.get_xaxis_transform(), clip_on=False)
        ax.gan_infinite = True
    mean = np.where(infinite, np.nan, mean)
    (line,) = ax.plot(steps, mean, color=colour, lw=1.6, marker="o" if few else None, ms=4, label=label)
    spread = count > 1
    if few and spread.any():
        ax.errorbar(steps[spread], mean[spread], yerr=[mean[spread] - low[spread], high[spread] - mean[spread]],
                    fmt="none", ecolor=colour, elinewidth=1.2, capsize=4, alpha=0.8)
    elif spread.any():
        ax.fill_between(steps, low, high, color=colour, alpha=0.18, lw=0, where=spread)
    return line


def _grid(plt, n_panels: int, width: float = 4.8, height: float = 3.3, extra_height: float = 0.0):
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows + extra_height),
                             layout="constrained", squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat[:n_panels]


def _legend(fig, report: Report, rows: list[Row], handles, note: str) -> None:
    """Below the panels, never over the data."""
    labels = [("★ " if row is report.best else "") + short_label(row) for row in rows]
    if any(getattr(ax, "gan_infinite", False) for ax in fig.axes):
        note += "\n▲ at the top: infinite for some seed at that step"
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(rows), 4), fontsize=9,
               title=note, title_fontsize=9, frameon=False)


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- figures
def training_keys(report: Report) -> list[str]:
    runs = [run for row in report.rows for run in row.runs]
    keys: list[str] = []
    for run in runs:
        for r in run.metrics:
            keys.extend(k for k, v in r.items() if k not in keys and k not in NOT_PLOTTED and isinstance(v, (int, float)))
    # `d/adv` equals `d/loss` when no trick adds a term: one panel says it all.
    keys = [k for k in keys if not (k.endswith("/adv") and _same(runs, k, k.replace("/adv", "/loss")))]
    ordered = [k for k in TRAINING_PANELS if k in keys] + [k for k in keys if k not in TRAINING_PANELS]
    return ordered[:MAX_PANELS]


def _same(runs, a: str, b: str) -> bool:
    pairs = [(r.get(a), r.get(b)) for run in runs for r in run.metrics if a in r]
    return all(isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
               for x, y in pairs)


def plot_training(report: Report, path: Path) -> Path | None:
    keys = training_keys(report)
    rows = [row for row in report.rows if any(run.metrics for run in row.runs)]
    if not keys or not rows:
        return None
    plt = _pyplot()
    fig, axes = _grid(plt, len(keys), extra_height=0.5 + 0.25 * math.ceil(len(rows) / 4))
    fig.suptitle(f"Training curves: {report.name}", fontsize=12)
    palette = dict(zip(map(id, report.rows), colours(len(report.rows))))
    handles = {}
    for ax, key in zip(axes, keys):
        title, ylabel = TRAINING_PANELS.get(key, (key, "value"))
        for row in rows:
            data = series(row.runs, lambda run: run.metrics, key)
            if len(data[0]):
                handles[id(row)] = _draw(ax, *data, palette[id(row)], row.label)
        if key.endswith("grad_norm") and _spans_decades(ax):
            ax.set_yscale("log")  # norms that grow or shrink by orders of magnitude
        ax.set_title(f"{title}  [{key}]", fontsize=10)
        ax.set_xlabel(STEP_LABEL, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    _legend(fig, report, [r for r in rows if id(r) in handles], [handles[id(r)] for r in rows if id(r) in handles], BAND_NOTE)
    return _save(fig, path)


def _spans_decades(ax) -> bool:
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()] or [np.zeros(1)])
    values = values[np.isfinite(values)]
    return len(values) > 0 and values.min() > 0 and values.max() / values.min() > 10


def _evaluations(run) -> list[dict]:
    return run.score_rows or []


def plot_score_curves(report: Report, path: Path) -> Path | None:
    """Scores against steps; only when some run was evaluated at two or more steps
    (`trainer.eval_every`), else the final-scores figure says everything."""
    rows = [row for row in report.rows if any(len({r.get("step") for r in run.score_rows}) > 1 for run in row.runs)]
    if not rows or not report.score_keys:
        return None
    plt = _pyplot()
    keys = report.score_keys[:MAX_PANELS]
    fig, axes = _grid(plt, len(keys), extra_height=0.5 + 0.25 * math.ceil(len(rows) / 4))
    fig.suptitle(f"Scores during training: {report.name}", fontsize=12)
    palette = dict(zip(map(id, report.rows), colours(len(report.rows))))
    handles = {}
    for ax, key in zip(axes, keys):
        scale = 100.0 if catalog.info(key).percent else 1.0
        for row in rows:
            data = series(row.runs, _evaluations, key, scale)
            if len(data[0]):
                handles[id(row)] = _draw(ax, *data, palette[id(row)], row.label)
        ax.set_title(score_header(key), fontsize=10)
        ax.set_xlabel(STEP_LABEL, fontsize=9)
        ax.set_ylabel(catalog.info(key).label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    _legend(fig, report, [r for r in rows if id(r) in handles], [handles[id(r)] for r in rows if id(r) in handles], BAND_NOTE)
    return _save(fig, path)


def plot_final_scores(report: Report, path: Path) -> Path | None:
    """One horizontal bar per configuration and score, best configuration on top; the bar is the
    mean over seeds, the whisker ± std, the dots the seeds."""
    rows = [row for row in report.rows if row.scores]
    keys = report.score_keys[:MAX_PANELS]
    if not rows or not keys:
        return None
    plt = _pyplot()
    palette = dict(zip(map(id, report.rows), colours(len(report.rows))))
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    label_width = min(40, max(len(short_label(row)) for row in rows))
    height = max(1.6, 0.42 * len(rows) + 1.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(0.09 * label_width + 3.6 * ncols, height * nrows + 0.5),
                             layout="constrained", squeeze=False, sharey=True)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    y = np.arange(len(rows))
    best = report.best
    for ax, key in zip(axes.flat, keys):
        scale = 100.0 if catalog.info(key).percent else 1.0
        for i, row in enumerate(rows):
            stat = row.scores.get(key)
            if stat is None:
                continue
            colour = palette[id(row)]
            if not math.isfinite(stat.mean):
                ax.annotate("∞ ", (1.0, i), xycoords=("axes fraction", "data"), ha="right", va="center",
                            color=colour, fontsize=14, fontweight="bold")
                continue
            ax.barh(i, stat.mean * scale, color=colour, alpha=0.75, height=0.6,
                    xerr=None if stat.std is None else stat.std * scale, capsize=3, error_kw={"lw": 1})
            finite = [v * scale for v in stat.values if math.isfinite(v)]
            ax.scatter(finite, [i] * len(finite), color="black", s=10, zorder=3)
        ax.set_title(score_header(key), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_yticks(y, [("★ " if row is best else "") + short_label(row) + (f" {PARTIAL}" if _partial(row) else "")
                          for row in rows], fontsize=8)
        ax.invert_yaxis()  # the best configuration on top, as in the table
    note = f"; {PARTIAL}: includes an unfinished run's latest evaluation" if any(map(_partial, rows)) else ""
    fig.suptitle(f"Final scores: {report.name} (bar: mean, whisker: ± std, dots: seeds{note})", fontsize=11)
    return _save(fig, path)


def _partial(row: Row) -> bool:
    return any(stat.partial for stat in row.scores.values())


def plot_samples(report: Report, path: Path, max_seeds: int = 4) -> Path | None:
    """The last sample grid of every run: configurations side by side (one per column; one per
    row when there are many), seeds along the other axis."""
    rows = [row for row in report.rows if any(run.samples for run in row.runs)]
    if not rows:
        return None
    plt = _pyplot()
    from PIL import Image

    n_seeds = min(max_seeds, max(len(row.runs) for row in rows))
    wide = len(rows) <= 6
    nr, nc = (n_seeds, len(rows)) if wide else (len(rows), n_seeds)
    cell = 3.0
    fig, axes = plt.subplots(nr, nc, figsize=(cell * nc, cell * nr + 0.6), layout="constrained", squeeze=False)
    best = report.best
    for j, row in enumerate(rows):
        for i in range(n_seeds):
            ax = axes[i, j] if wide else axes[j, i]
            ax.set_xticks([])
            ax.set_yticks([])
            run = row.runs[i] if i < len(row.runs) else None
            if run is not None and run.samples is not None:
                try:
                    with Image.open(run.samples) as image:
                        ax.imshow(np.asarray(image.convert("RGB")))
                except OSError:  # a PNG being written right now
                    ax.text(0.5, 0.5, "unreadable image", ha="center", va="center", transform=ax.transAxes)
            else:
                text = "-" if run is None else f"{run.status}\n" + textwrap.fill(run.error or "no samples yet", 30)
                ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True, transform=ax.transAxes)
            for spine in ax.spines.values():
                spine.set_visible(run is None or run.samples is None)
            if run is not None and run.samples is not None and run.samples.stem != "final":
                ax.set_xlabel(f"latest: {run.samples.stem} ({run.status})", fontsize=8)
            label = ("★ " if row is best else "") + textwrap.fill(row.label, 32)
            seed = "-" if run is None else f"seed {run.seed}"
            if wide:
                if i == 0:
                    ax.set_title(label, fontsize=9)
                if j == 0:
                    ax.set_ylabel(seed, fontsize=9)
            else:
                if i == 0:
                    ax.set_ylabel(label, fontsize=8)
                if j == 0:
                    ax.set_title(seed, fontsize=9)
    fig.suptitle(f"Final samples: {report.name}", fontsize=12)
    return _save(fig, path)


def plot_search(search: dict, path: Path) -> Path | None:
    """A hyperparameter search: each trial's objective against its number, the best so far as a
    step line, failed trials as crosses along the bottom."""
    trials = search.get("trials") or []
    if not trials:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    done = [(t["number"], t["value"]) for t in trials if t["state"] == "complete" and t["value"] is not None]
    failed = [t["number"] for t in trials if t["state"] == "fail"]
    pick = min if search["direction"] == "minimize" else max
    if done:
        numbers, values = zip(*done)
        ax.scatter(numbers, values, color="C0", zorder=3, label="trial")
        best = [pick(values[: i + 1]) for i in range(len(values))]
        ax.step(numbers, best, where="post", color="C1", label="best so far")
        winner = search.get("best")
        if winner:
            ax.scatter([winner["number"]], [winner["value"]], marker="*", s=220, color="C1", zorder=4,
                       label=f"best: trial {winner['number']}")
    if failed:
        bottom = min((v for _, v in done), default=0.0)
        ax.scatter(failed, [bottom] * len(failed), marker="x", color="C3", zorder=3, label="failed")
    ax.set_xlabel("trial")
    better = "lower" if search["direction"] == "minimize" else "higher"
    ax.set_ylabel(f"{search['objective']} ({better} is better)")
    ax.set_title(f"Search: {search['objective']} by trial", fontsize=11)
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(report: Report, out: Path) -> list[Path]:
    figures = [
        plot_final_scores(report, out / "final_scores.png"),
        plot_score_curves(report, out / "score_curves.png"),
        plot_training(report, out / "training_curves.png"),
        plot_samples(report, out / "samples.png"),
    ]
    return [f for f in figures if f is not None]

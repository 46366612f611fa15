"""Group runs into configurations (the overrides that differ between runs, seed excluded),
aggregate their seeds as mean ± std, and rank the configurations by the primary score."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gan_cli.errors import GanError
from gan_cli.report import scores as catalog
from gan_cli.report.runs import Run

# The order statuses are listed in a row ("2 finished, 1 failed").
STATUS_ORDER = ["finished", "running", "pending", "stopped", "diverged", "failed", "unknown"]
PARTIAL = "†"  # marks a score that includes an unfinished run's latest evaluation
# More differing override keys than this and the table shows one `configuration` column
MAX_KEY_COLUMNS = 4


@dataclass
class Stat:
    """One score of one configuration over its seeds."""

    values: list[float]  # one per seed that has the score (NaN ones dropped)
    partial: bool = False  # some value is from an unfinished run's latest evaluation

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / self.n if all(map(math.isfinite, self.values)) else max(self.values)

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (ddof=1); None for one seed or an infinite value."""
        if self.n < 2 or not all(map(math.isfinite, self.values)):
            return None
        return statistics.stdev(self.values)


@dataclass
class Row:
    config: dict[str, str]  # differing override key -> value
    runs: list[Run]
    scores: dict[str, Stat] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items()) or "all runs"

    @property
    def status(self) -> Counter:
        return Counter(run.status for run in self.runs)

    @property
    def seeds(self) -> list:
        return sorted({run.seed for run in self.runs if run.seed is not None})

    @property
    def wall_time_s(self) -> float | None:
        times = [run.wall_time_s for run in self.runs if run.wall_time_s is not None]
        return math.fsum(times) / len(times) if times else None

    @property
    def failures(self) -> list[Run]:
        return [run for run in self.runs if run.error]


@dataclass
class Report:
    root: Path
    keys: list[str]  # the override keys that differ between runs: one column each
    common: dict[str, str]  # overrides shared by every run
    rows: list[Row]  # best first
    score_keys: list[str]
    sort_keys: list[str]

    @property
    def key_columns(self) -> list[str]:
        """The keys shown as columns of their own; a folder whose runs differ in more keys than
        fit side by side (a day's unrelated runs) gets one `configuration` column instead, each
        row's overrides as `k=v, ...`."""
        return self.keys if len(self.keys) <= MAX_KEY_COLUMNS else []

    @property
    def name(self) -> str:
        """`2024-01-01/12-00-00`: a sweep's time-stamped folder alone says little."""
        return "/".join(self.root.resolve().parts[-2:])

    @property
    def best(self) -> Row | None:
        """The top row, when there is a ranking to speak of."""
        if len(self.rows) < 2 or not self.sort_keys:
            return None
        first = self.rows[0].scores.get(self.sort_keys[0])
        if first is None or math.isnan(first.mean):
            return None
        tied = _rank(self.rows[0], self.sort_keys) == _rank(self.rows[1], self.sort_keys)
        return None if tied else self.rows[0]

    def best_value(self, key: str) -> float | None:
        """The best mean of a score over all rows (for highlighting), when its direction is known."""
        higher = catalog.info(key).higher_is_better
        means = [row.scores[key].mean for row in self.rows if key in row.scores]
        means = [m for m in means if not math.isnan(m)]
        if higher is None or len(set(means)) < 2:
            return None  # nothing to compare, or every configuration is equal
        return max(means) if higher else min(means)


def differing_keys(runs: list[Run]) -> tuple[list[str], dict[str, str]]:
    """(keys whose value differs between runs, in first-seen order; {key: value} shared by all)."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run.overrides if k not in keys)
    differ = [k for k in keys if len({run.value_of(k) for run in runs}) > 1]
    common = {k: runs[0].value_of(k) for k in keys if k not in differ}
    return differ, common


def aggregate(runs: list[Run], keys: list[str]) -> Row:
    row = Row(config={k: runs[0].value_of(k) for k in keys}, runs=runs)
    for key in catalog.ordered({k for run in runs for k in run.scores}):
        values, partial = [], False
        for run in runs:
            if key in run.scores:
                value = catalog.as_number(key, run.scores[key])
                if not math.isnan(value):
                    values.append(value)
                    partial |= not run.scores_final
        if values:
            row.scores[key] = Stat(values, partial)
    return row


def sort_keys_for(score_keys: list[str], sort: str | None) -> list[str]:
    if not sort:
        return catalog.primary(score_keys)
    if sort not in score_keys:
        known = ", ".join(score_keys) or "none yet"
        raise GanError(f"sort={sort}: no run has this score (scores: {known}): pick one of them")
    return [sort]


def _rank(row: Row, sort_keys: list[str]):
    key = []
    for k in sort_keys:
        stat = row.scores.get(k)
        if stat is None or math.isnan(stat.mean):
            key.append((1, 0.0))  # no value: after every row that has one
            continue
        higher = catalog.info(k).higher_is_better
        key.append((0, -stat.mean if higher else stat.mean))
    return key


def build_report(root: Path, runs: list[Run], sort: str | None = None) -> Report:
    keys, common = differing_keys(runs)
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.value_of(k) for k in keys), []).append(run)
    rows = [aggregate(sorted(group, key=lambda r: (r.seed is None, r.seed or 0)), keys) for group in groups.values()]
    score_keys = catalog.ordered({k for row in rows for k in row.scores})
    sort_keys = sort_keys_for(score_keys, sort)
    # sorted() is stable: configurations without scores keep the order the sweep ran them in.
    rows = sorted(rows, key=lambda row: _rank(row, sort_keys))
    return Report(root=root, keys=keys, common=common, rows=rows, score_keys=score_keys, sort_keys=sort_keys)


# ----------------------------------------------------------------------------- cell texts
def fmt_number(x: float, decimals: int | None = None) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    return f"{x:.{decimals_for(x) if decimals is None else decimals}f}"


def decimals_for(x: float) -> int:
    """About three significant digits: 23.4, 7.50, 0.0712."""
    if x == 0 or not math.isfinite(x):
        return 2
    return min(6, max(0, 2 - math.floor(math.log10(abs(x)))))


def fmt_stat(key: str, stat: Stat, runs: int) -> str:
    """`7.50 ± 0.71`; `(n=1)` when some seeds have no value; `†` when a run is unfinished."""
    scale = 100.0 if catalog.info(key).percent else 1.0
    mean = stat.mean * scale
    decimals = decimals_for(mean)
    text = fmt_number(mean, decimals)
    if stat.std is not None:
        text += f" ± {fmt_number(stat.std * scale, decimals)}"
    if stat.n < runs:
        text += f" (n={stat.n})"
    return text + (PARTIAL if stat.partial else "")


def fmt_status(counts: Counter) -> str:
    order = STATUS_ORDER + sorted(set(counts) - set(STATUS_ORDER))
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def fmt_steps(row: Row) -> str:
    steps = sorted({run.steps for run in row.runs if run.steps is not None})
    if not steps:
        return "-"
    text = str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}"
    totals = {run.total_steps for run in row.runs if run.total_steps}
    if len(totals) == 1 and steps[0] < next(iter(totals)):
        text += f" / {next(iter(totals))}"  # still on the way (or stopped early)
    return text


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def score_header(key: str) -> str:
    info = catalog.info(key)
    arrow = {True: " ↑", False: " ↓", None: ""}[info.higher_is_better]
    return info.label + arrow


def scored_runs(row: Row) -> int:
    """Runs that could have a score: a pending job is not missing one."""
    return sum(run.status != "pending" for run in row.runs)

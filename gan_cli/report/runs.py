"""Find run folders under a directory and read what each one holds, defensively.

A sweep may still be running (a summary saying "running" or none yet, a metrics.jsonl whose last
line is half written), may have been copied from another machine (the absolute paths written
inside its files point elsewhere: only the folder layout is trusted), and may hold failed jobs.
Nothing here raises on a damaged file: what cannot be read is treated as absent.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gan_cli.report.scores import is_score_key
from gan_cli.run_config import SAVED_CONFIG, SAVED_OVERRIDES
from gan_cli.run_status import status_of

log = logging.getLogger("gan")

# Overrides that do not change what a run learns: never part of a configuration's name.
IGNORED_KEYS = {"seed", "resume", "verbose", "trainer.progress", "logger"}
# Summary keys that are run facts, not scores.
FACTS = {"run_dir", "seed", "device", "world_size", "status", "steps", "wall_time_s", "images_per_s",
         "checkpoint", "error", "reason", "signal"}


@dataclass
class Run:
    path: Path
    name: str  # path relative to the report's root: how the run is named in messages
    overrides: dict[str, str]  # key -> value from .hydra/overrides.yaml (`+`/`~` prefixes dropped)
    # finished | diverged | failed | running | stopped (older runs: interrupted) | pending (not
    # started) | unknown (summary.json unreadable)
    status: str
    seed: int | None = None
    error: str | None = None
    steps: int | None = None
    total_steps: int | None = None  # trainer.steps of the config
    wall_time_s: float | None = None
    scores: dict = field(default_factory=dict)  # final scores, or the latest for an unfinished run
    scores_final: bool = False
    metrics: list[dict] = field(default_factory=list)  # metrics.jsonl rows
    score_rows: list[dict] = field(default_factory=list)  # scores.jsonl rows
    samples: Path | None = None  # the final sample grid, or the latest one
    choices: dict = field(default_factory=dict)  # Hydra's config-group choices (loss: ns, ...)
    config: dict = field(default_factory=dict)  # the saved config, as plain YAML data
    problems: list[str] = field(default_factory=list)  # files that could not be read (fully)
    job_num: int | None = None  # the job's number in its sweep (an Optuna search: the trial)
    sweeper: str = ""  # the sweep's Hydra sweeper (`_target_`), "" for a single run

    def value_of(self, key: str) -> str:
        """This run's value for an override key, also when the run did not set it (its default)."""
        if key in self.overrides:
            return self.overrides[key]
        if key in self.choices and self.choices[key] is not None:
            return str(self.choices[key])
        node = self.config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return "-"
            node = node[part]
        if isinstance(node, dict):  # a section (tricks): the names in use, as on the command line
            return "[" + ",".join(k for k, v in node.items() if v is not None) + "]"
        return str(node)


# ----------------------------------------------------------------------------- reading files
def read_jsonl_counting(path: Path) -> tuple[list[dict], int]:
    """(readable rows, number of lines that are not a JSON object): a line cut short by a kill
    or being written right now is skipped, and counted so that the report can say so."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return [], 0
    rows, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(errors="replace"))
    except (OSError, yaml.YAMLError):
        return None


def parse_overrides(lines) -> dict[str, str]:
    """`["loss=ns", "+tricks=[ema]", "~foo"]` -> {"loss": "ns", "tricks": "[ema]", "foo": "~"}."""
    out = {}
    for line in lines or []:
        if not isinstance(line, str):
            continue
        key, sep, value = line.partition("=")
        if key.startswith("~"):
            key, value = key[1:], "~"
        key = key.lstrip("+")
        if not key or key.startswith(("hydra.", "hydra/", "tracker.")) or key in IGNORED_KEYS:
            continue
        out[key] = value if sep or value == "~" else ""
    return out


def _seed(overrides_raw, config: dict, summary: dict | None) -> int | None:
    for line in overrides_raw or []:
        if isinstance(line, str) and line.lstrip("+").startswith("seed="):
            try:
                return int(line.split("=", 1)[1])
            except ValueError:
                return None
    for source in (config, summary or {}):
        if isinstance(source.get("seed"), int):
            return source["seed"]
    return None


def _final_scores(status: str, summary: dict | None, score_rows: list[dict]) -> tuple[dict, bool]:
    """(scores, final?): the final evaluation when there is one; for a run still on its way (or
    stopped to be resumed) its latest evaluation. A diverged or failed run has none: its scores
    from before the failure would flatter its configuration."""
    finals = [r for r in score_rows if r.get("final")]
    if finals:
        return _only_scores(finals[-1]), True
    if status == "finished" and summary:
        scores = _only_scores(summary)
        if scores:
            return scores, True
    if score_rows and status in ("running", "stopped"):
        return _only_scores(score_rows[-1]), False
    return {}, False


def _only_scores(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in FACTS and is_score_key(k, v)}


def _latest_samples(folder: Path) -> Path | None:
    final = folder / "final.png"
    if final.is_file():
        return final
    steps = sorted(folder.glob("step_*.png"))
    return steps[-1] if steps else None


def _error(summary: dict | None) -> str | None:
    if not summary:
        return None
    if summary.get("error") or summary.get("reason"):
        return str(summary.get("error") or summary.get("reason"))
    if status_of(summary) == "stopped":
        return f"stopped by {summary.get('signal', 'a signal')}"
    return None


def load_run(path: Path, root: Path) -> Run:
    hydra_dir = path / ".hydra"
    overrides_raw = read_yaml(path / SAVED_OVERRIDES)
    overrides_raw = overrides_raw if isinstance(overrides_raw, list) else []
    # read leniently (a damaged file is a row with a problem, not a failed report), so not run_config()
    config = read_yaml(path / SAVED_CONFIG)
    config = config if isinstance(config, dict) else {}
    hydra_cfg = read_yaml(hydra_dir / "hydra.yaml")
    choices, job_num, sweeper = {}, None, ""
    if isinstance(hydra_cfg, dict):
        hydra_node = hydra_cfg.get("hydra") or {}
        choices = hydra_node.get("runtime", {}).get("choices") or {}
        num = (hydra_node.get("job") or {}).get("num")
        job_num = num if isinstance(num, int) and hydra_node.get("mode") == "MULTIRUN" else None
        sweeper = str((hydra_node.get("sweeper") or {}).get("_target_") or "") if job_num is not None else ""
    summary = read_json(path / "summary.json")
    problems = []
    if summary is None and (path / "summary.json").exists():
        problems.append("summary.json is not readable JSON (damaged or cut short): status unknown")
    metrics, bad_metrics = read_jsonl_counting(path / "metrics.jsonl")
    score_rows, bad_scores = read_jsonl_counting(path / "scores.jsonl")
    for name, bad in (("metrics.jsonl", bad_metrics), ("scores.jsonl", bad_scores)):
        if bad:
            problems.append(f"{name}: {bad} unreadable line{'s' if bad > 1 else ''} skipped (cut short by a kill, "
                            "or being written)")
    last = metrics[-1] if metrics else {}
    trainer = config.get("trainer") if isinstance(config.get("trainer"), dict) else {}
    # A job folder exists from the moment Hydra starts the job; the trainer writes its summary a
    # moment later. No summary yet therefore means "running" (just started).
    # (summaries written before "interrupted" was renamed "stopped" read as stopped)
    status = str(status_of(summary)) if summary and summary.get("status") else "running"
    if problems and problems[0].startswith("summary.json"):
        status = "unknown"
    scores, scores_final = _final_scores(status, summary, score_rows)
    steps = summary.get("steps") if summary else None
    wall = summary.get("wall_time_s") if summary else None
    return Run(
        path=path,
        name=str(path.relative_to(root)) if path != root else path.name,
        overrides=parse_overrides(overrides_raw),
        status=status,
        seed=_seed(overrides_raw, config, summary),
        error=_error(summary),
        steps=int(steps) if isinstance(steps, (int, float)) else last.get("step"),
        total_steps=trainer.get("steps") if isinstance(trainer.get("steps"), int) else None,
        wall_time_s=float(wall) if isinstance(wall, (int, float)) else last.get("time_s"),
        scores=scores,
        scores_final=scores_final,
        metrics=metrics,
        score_rows=score_rows,
        samples=_latest_samples(path / "samples"),
        choices=choices,
        config=config,
        problems=problems,
        job_num=job_num,
        sweeper=sweeper,
    )


# ----------------------------------------------------------------------------- discovery
def is_run_dir(path: Path) -> bool:
    """A training run's folder: it has logs or a summary, or (a job just started) the config
    Hydra saved for `gan train`; folders of other commands (`gan eval`, ...) are not runs."""
    if (path / "summary.json").is_file() or (path / "metrics.jsonl").is_file():
        return True
    config = path / SAVED_CONFIG
    if not config.is_file():
        return False
    data = read_yaml(config)
    return isinstance(data, dict) and "trainer" in data


def collect_runs(root: Path) -> list[Run]:
    """Every run under `root` (or `root` itself), plus the jobs of each sweep that have not
    started yet, in a stable order."""
    root = root.expanduser()
    if is_run_dir(root):
        return [load_run(root, root)]
    runs: list[Run] = []
    sweep_roots: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if (here / "multirun.yaml").is_file():
            sweep_roots.append(here)
        runs_here = sorted((d for d in dirnames if is_run_dir(here / d)), key=_job_order)
        runs.extend(load_run(here / d, root) for d in runs_here)
        # Do not descend into run folders (checkpoints/, samples/) or hidden folders.
        dirnames[:] = sorted(d for d in dirnames if d not in runs_here and not d.startswith("."))
    for sweep in sweep_roots:
        runs.extend(pending_jobs(sweep, root, [r for r in runs if r.path.parent == sweep]))
    return runs


def _job_order(name: str):
    """Hydra's job folders start with the job number: order 2_... before 10_...."""
    head = name.split("_", 1)[0]
    return (0, int(head), name) if head.isdigit() else (1, 0, name)


def pending_jobs(sweep: Path, root: Path, started: list[Run]) -> list[Run]:
    """The jobs that multirun.yaml asks for and that have no folder yet (a sweep in progress).

    Only for Hydra's basic sweeper, whose job list can be expanded again from the sweep's
    overrides; other sweepers (Optuna, ...) choose their jobs as they go.
    """
    data = read_yaml(sweep / "multirun.yaml")
    hydra_cfg = data.get("hydra") if isinstance(data, dict) else None
    if not isinstance(hydra_cfg, dict):
        return []
    sweeper = str((hydra_cfg.get("sweeper") or {}).get("_target_", ""))
    task = (hydra_cfg.get("overrides") or {}).get("task") or []
    if not sweeper.endswith("BasicSweeper"):
        return []
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides([str(t) for t in task])
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except Exception as e:  # noqa: BLE001  (a sweep syntax this Hydra cannot expand: no pending rows)
        log.debug("cannot expand the jobs of %s: %s", sweep, e)
        return []
    # Started jobs are recognised by their overrides and seed (folder names may be customised).
    started_keys = Counter((tuple(sorted(r.overrides.items())), r.seed) for r in started)
    choices = (hydra_cfg.get("runtime") or {}).get("choices") or {}
    # multirun.yaml also holds the sweep's composed config: the defaults of keys a job leaves alone
    config = {k: v for k, v in data.items() if k != "hydra"}
    where = sweep.relative_to(root) if sweep != root else Path(".")
    pending = []
    for num, job in enumerate(jobs):
        overrides, seed = parse_overrides(job), _seed(job, config, None)
        key = (tuple(sorted(overrides.items())), seed)
        if started_keys[key] > 0:
            started_keys[key] -= 1
            continue
        pending.append(Run(path=sweep / f"job {num}", name=f"{where}/job {num}", overrides=overrides,
                           status="pending", seed=seed, choices=choices, config=config))
    return pending

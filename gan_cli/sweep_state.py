"""What a sweep job's folder says about it, and so what running the job again must do.

Running the same `--multirun` into the same `hydra.sweep.dir`, a Slurm job requeued after
preemption, and a resumed Optuna search all meet a job folder that may already hold a run. Its
summary.json decides:

- finished                          -> skip: the sweeper does not launch it (its files stay untouched)
- stopped / interrupted / running   -> resume from checkpoints/last.pt ("running" after the sweep
  with a checkpoint                    means the process was killed)
- failed / diverged, or stopped     -> rerun from the start, the previous attempt's outputs removed
  before its first checkpoint
- no summary.json                   -> a new job

The sweeper (parent process) calls `job_action` to skip finished jobs before launching; the job
itself (its own process, possibly on a Slurm node) calls it again to resume or start clean.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

NEW, SKIP, RESUME, RERUN = "new", "skip", "resume", "rerun"
# "interrupted" is the older name of "stopped" (a signal stopped the run after a checkpoint).
RESUMABLE_STATUSES = ("stopped", "interrupted", "running")
# Outputs of an attempt; a rerun removes them so its logs read as one run.
ATTEMPT_OUTPUTS = ("checkpoints", "samples", "tensorboard", "metrics.jsonl", "scores.jsonl", "summary.json")


def read_summary(job_dir: Path) -> dict | None:
    try:
        return json.loads((Path(job_dir) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def job_action(job_dir: Path) -> str:
    """NEW, SKIP, RESUME or RERUN for the job whose run folder is `job_dir`."""
    summary = read_summary(job_dir)
    if summary is None:
        # A folder without summary.json: the job died before training began (or never ran).
        return RERUN if (Path(job_dir) / "checkpoints").exists() else NEW
    status = summary.get("status")
    if status == "finished":
        return SKIP
    if status in RESUMABLE_STATUSES and (Path(job_dir) / "checkpoints" / "last.pt").is_file():
        return RESUME
    return RERUN


def clear_attempt(job_dir: Path) -> list[str]:
    """Remove a failed attempt's outputs (train.log and .hydra/ stay: the log is appended to)."""
    removed = []
    for name in ATTEMPT_OUTPUTS:
        path = Path(job_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


def resumed_from_step(job_dir: Path) -> int | None:
    summary = read_summary(job_dir) or {}
    steps = summary.get("steps")
    return steps if isinstance(steps, int) else None

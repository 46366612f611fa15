"""How every `gan train` run ends: a status in its summary.json, or no folder at all.

A run that starts (the trainer wrote "running") ends finished, stopped (with the command that
continues it), diverged, or failed (with the one-line reason); a run refused before it started
leaves no folder behind (Hydra makes the folder, its .hydra/ and train.log before the
application runs). `gan report` reads these statuses; "interrupted", the old name of
"stopped", is read as "stopped".
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from pathlib import Path

STATUSES = ("running", "finished", "stopped", "diverged", "failed")
OLD_NAMES = {"interrupted": "stopped"}

# what Hydra writes into a run folder before the application starts
_HYDRA_ONLY = {".hydra", "train.log"}


def status_of(summary: dict | None) -> str | None:
    status = (summary or {}).get("status")
    return OLD_NAMES.get(status, status)


def read_summary(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def update_summary(run_dir: Path, **fields) -> dict:
    """Merge `fields` into the run's summary.json, atomically."""
    run_dir = Path(run_dir)
    summary = {"run_dir": str(run_dir), **read_summary(run_dir), **fields}
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, run_dir / "summary.json")
    return summary


def resume_command(run_dir: Path) -> str:
    return f"gan train resume={run_dir}"


def remove_unstarted(run_dir: Path) -> bool:
    """Remove a folder in which nothing but Hydra's own files was written: a refused run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(p.name not in _HYDRA_ONLY for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def append_trace(run_dir: Path, error: BaseException) -> Path:
    """A crash's full trace, for the bug report: in train.log, not on the terminal."""
    log = Path(run_dir) / "train.log"
    with open(log, "a") as f:
        f.write("".join(traceback.format_exception(error)))
    return log

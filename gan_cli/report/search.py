"""A hyperparameter search's own lines in `gan report`: read from the search.json the optuna
sweeper keeps in the sweep folder (gan_cli/optuna_study.py), so reporting needs no Optuna."""

from __future__ import annotations

import json
from pathlib import Path

SEARCH_FILE = "search.json"


def read_search(root: Path) -> dict | None:
    try:
        return json.loads((Path(root) / SEARCH_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def search_lines(search: dict) -> list[str]:
    """How many trials, and the best one with its parameters and job folder."""
    states = [t["state"] for t in search["trials"]]
    counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    better = "lower" if search["direction"] == "minimize" else "higher"
    lines = [f"search: {len(states)} trials ({counts}), objective {search['objective']} ({better} is better)"]
    best = search.get("best")
    if best:
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(f"best trial {best['number']}: {search['objective']} = {best['value']:.4g}  {params}  ({best['job']})")
    else:
        lines.append("no trial has finished with a value yet")
    return lines

"""The Optuna side of `hydra/sweeper=optuna`: open (or reopen) the study, ask trials in batches,
launch them, tell their values, and keep search.json up to date for `gan report`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.distributions import distribution_to_json
from optuna.trial import TrialState

from gan_cli.console import console
from gan_cli.errors import GanError
from gan_cli.report.search import SEARCH_FILE
from gan_cli.search import Objective, trial_overrides, trial_value

log = logging.getLogger("gan")
DONE = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


@dataclass
class Search:
    study: optuna.Study
    space: dict
    fixed: list[str]
    objective: Objective
    sweep_dir: Path
    job_dir: Callable[[list[str], int], Path]  # the folder of job number n with these overrides


def open_study(name: str, storage: str, objective: Objective, sampler: str, seed: int | None,
               space: dict) -> optuna.Study:
    """The study stored in the sweep folder, created on the first run and continued afterwards;
    a run again with another objective or search space is refused (its trials would not compare)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
                "random": lambda seed: optuna.samplers.RandomSampler(seed=seed)}
    if sampler not in samplers:
        raise GanError(f"hydra.sweeper.sampler={sampler}: choose {' or '.join(samplers)}")
    study = optuna.create_study(study_name=name, storage=storage, direction=objective.direction, load_if_exists=True)
    # A continued study needs fresh draws: the same seed would propose its first trials' values again.
    seed = None if seed is None else seed + len(study.get_trials(deepcopy=False))
    study.sampler = samplers[sampler](seed)
    space_text = {key: distribution_to_json(dist) for key, dist in space.items()}
    stored = study.user_attrs
    if stored.get("objective", objective.key) != objective.key:
        raise GanError(f"this sweep folder holds a search of {stored['objective']}: use sweep.objective="
                       f"{stored['objective']} to continue it, or another hydra.sweep.dir for a new search")
    if stored.get("space", space_text) != space_text:
        raise GanError(f"this sweep folder holds a search over {sorted(stored['space'])} with other ranges: "
                       "repeat its search space to continue it, or use another hydra.sweep.dir")
    study.set_user_attr("objective", objective.key)
    study.set_user_attr("space", space_text)
    return study


def run_search(search: Search, launcher, n_trials: int, n_jobs: int) -> None:
    study = search.study
    # Trials a killed search left running: their jobs go again into their own folders, where
    # they resume from a checkpoint or, already finished, are only read.
    unfinished = [(t.number, t.params) for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    if unfinished:
        log.info("continuing %d trial(s) left running: %s", len(unfinished), ", ".join(str(n) for n, _ in unfinished))
        _run_batch(search, launcher, unfinished)
    while (done := len(study.get_trials(deepcopy=False, states=DONE))) < n_trials:
        trials = [study.ask(search.space) for _ in range(min(n_jobs, n_trials - done))]
        _run_batch(search, launcher, [(t.number, t.params) for t in trials])
    _announce(write_search_file(search, n_trials), search.sweep_dir)


def _run_batch(search: Search, launcher, trials: list[tuple[int, dict]]) -> None:
    """Launch the trials (consecutive numbers together: one Slurm array, parallel local processes)
    and tell each its value."""
    trials = sorted(trials, key=lambda t: t[0])
    groups: list[list[tuple[int, dict]]] = []
    for trial in trials:
        if groups and groups[-1][-1][0] == trial[0] - 1:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    for group in groups:
        overrides = [trial_overrides(params, search.fixed) for _, params in group]
        launcher.launch(overrides, initial_job_idx=group[0][0])
        for (number, _), job_overrides in zip(group, overrides):
            value, why = trial_value(search.job_dir(job_overrides, number), search.objective)
            if value is None:
                log.warning("trial %d failed: %s", number, why)
                search.study.tell(number, state=TrialState.FAIL)
            else:
                search.study.tell(number, value)
    write_search_file(search, None)


def write_search_file(search: Search, n_trials: int | None) -> dict:
    """search.json: every trial (number, state, value, parameters, job folder) and the best one."""
    trials = []
    for t in search.study.get_trials(deepcopy=False):
        job = search.job_dir(trial_overrides(t.params, search.fixed), t.number).name if t.params else None
        trials.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                       "params": t.params, "job": job})
    complete = [t for t in trials if t["state"] == "complete"]
    pick = min if search.objective.direction == "minimize" else max
    best = pick(complete, key=lambda t: t["value"]) if complete else None
    data = {"objective": search.objective.key, "direction": search.objective.direction,
            "n_trials": n_trials, "trials": trials, "best": best}
    path = search.sweep_dir / SEARCH_FILE
    tmp = path.with_name(f".{SEARCH_FILE}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
    return data


def _announce(data: dict, sweep_dir: Path) -> None:
    states = [t["state"] for t in data["trials"]]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "fail") if states.count(s))
    console.print(f"search: {len(states)} trials ({counts}) in {sweep_dir}", highlight=False, soft_wrap=True)
    best = data["best"]
    if best:
        params = " ".join(f"{k}={v}" for k, v in best["params"].items())
        console.print(f"search: best trial {best['number']}: {data['objective']} = {best['value']:g} ({params})",
                      highlight=False, soft_wrap=True)

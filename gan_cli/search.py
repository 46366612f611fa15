"""Hyperparameter search (`hydra/sweeper=optuna`): the objective, the search space and each
trial's outcome, independent of Hydra's plumbing (hydra_plugins/gan_sweepers/optuna.py).

- The objective is any score of a run's summary.json, named by `sweep.objective`; whether it
  is minimised or maximised is known per score (`sweep.direction` may only repeat it).
- The search space is written in Hydra's override grammar, on the command line or in
  `hydra.sweeper.params`: `optim.g.lr=tag(log,interval(1e-4,1e-2))`, `loss=ns,hinge` or
  `loss=choice(ns,hinge)`, `arch.width=int(interval(16,64))`, `trainer.batch_size=range(32,129,32)`.
- A trial's value is read from its job's summary.json; a job that did not finish, or has no
  finite value for the objective, is a failed trial (the study goes on).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from gan_cli.errors import GanError
from gan_cli.metrics.registry import METRICS, score_keys

# Which way is better, per score a run can report (summary.json keys), as each metric declares it:
# the image metrics metrics.names picks and the 2-D mixtures' own.
DIRECTIONS = {key: "maximize" if score.higher_is_better else "minimize"
              for key, score in score_keys("image", "toy").items()}
# The metrics.names entry that produces each image score.
IMAGE_METRIC = {key: metric.name for metric in METRICS.values() if metric.kind == "image" for key in metric.scores}
TOY_DATASETS = ("ring", "grid")


@dataclass(frozen=True)
class Objective:
    key: str
    direction: str  # minimize | maximize


def objective_of(cfg) -> Objective:
    """The search's objective from the job config's `sweep` section, checked against what the
    runs will report, before any trial starts."""
    key, direction = cfg.sweep.objective, cfg.sweep.direction
    toy = cfg.dataset.name in TOY_DATASETS
    default = "modes" if toy else "fid"
    if key is None:
        key = default
    if key not in DIRECTIONS:
        raise GanError(f"sweep.objective={key} is not a score runs report: choose one of {', '.join(DIRECTIONS)}")
    if direction is not None and direction not in ("minimize", "maximize"):
        raise GanError(f"sweep.direction={direction}: choose minimize or maximize (or leave it out)")
    if direction is not None and direction != DIRECTIONS[key]:
        raise GanError(f"sweep.direction={direction} contradicts sweep.objective={key}, which is better "
                       f"{'lower' if DIRECTIONS[key] == 'minimize' else 'higher'}: drop sweep.direction")
    if key in IMAGE_METRIC:
        if toy:
            raise GanError(f"sweep.objective={key} is an image score; dataset={cfg.dataset.name} reports "
                           f"{_listed(score_keys('toy'), 'and')}: choose one of those")
        if IMAGE_METRIC[key] not in list(cfg.metrics.names):
            raise GanError(f"sweep.objective={key} needs metrics.names to include {IMAGE_METRIC[key]} "
                           f"(now {list(cfg.metrics.names)})")
    elif not toy:
        raise GanError(f"sweep.objective={key} is scored on 2-D mixtures only (dataset=ring or grid): "
                       f"for dataset={cfg.dataset.name} choose {_listed(IMAGE_METRIC, 'or')}")
    return Objective(key, DIRECTIONS[key])


def _listed(keys, conjunction: str) -> str:
    """`a, b and c`"""
    *others, last = keys
    return f"{', '.join(others)} {conjunction} {last}" if others else last


def trial_value(job_dir: Path, objective: Objective) -> tuple[float | None, str]:
    """(value, "") for a finished job with a finite objective; (None, why) otherwise."""
    try:
        summary = json.loads((Path(job_dir) / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None, "the job left no summary.json"
    status = summary.get("status")
    if status != "finished":
        return None, f"{status}: {summary.get('error') or summary.get('reason') or 'no reason recorded'}"
    value = summary.get(objective.key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None, f"finished without a finite {objective.key} ({value})"
    return float(value), ""


# ----------------------------------------------------------------------------- search space
def search_space(overrides) -> tuple[dict, list[str]]:
    """Hydra's parsed overrides -> ({key: optuna distribution}, fixed `key=value` overrides)."""
    import optuna.distributions as od
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    space, fixed = {}, []
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            fixed.append(f"{key}={override.get_value_element_as_str()}")
            continue
        value = override.value()
        if isinstance(value, ChoiceSweep):
            choices = [_plain(v) for v in value.list]
            space[key] = od.CategoricalDistribution(choices)
        elif isinstance(value, RangeSweep):
            space[key] = od.CategoricalDistribution(list(override.sweep_iterator()))
        elif isinstance(value, IntervalSweep):
            log = "log" in value.tags
            low, high = value.start, value.end
            if low is None or high is None or not low < high:
                raise GanError(f"{key}: interval({low}, {high}) needs a lower bound below the upper one")
            if log and low <= 0:
                raise GanError(f"{key}: a log interval needs bounds above 0 (got {low})")
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                space[key] = od.IntDistribution(int(low), int(high), log=log)
            else:
                space[key] = od.FloatDistribution(float(low), float(high), log=log)
        else:
            raise GanError(f"{key}: {type(value).__name__} cannot be searched: use choice(...), a,b,c, "
                           "range(...) or interval(low,high) (tag(log,interval(...)) for a log scale)")
    if not space:
        raise GanError("hydra/sweeper=optuna needs a search space: e.g. optim.g.lr='tag(log,interval(1e-4,1e-2))' "
                       "loss=ns,hinge (or hydra.sweeper.params)")
    return space, fixed


def _plain(value):
    """Hydra's choice values as plain, storable values (lists of tricks become their override text)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def trial_overrides(params: dict, fixed: list[str]) -> list[str]:
    """The overrides of one trial: its sampled values, then the fixed ones."""
    return [*(f"{key}={_override_text(value)}" for key, value in params.items()), *fixed]


def _override_text(value) -> str:
    if isinstance(value, float):
        return repr(value)  # every digit: the trial's folder and config hold exactly the sampled value
    return str(value)

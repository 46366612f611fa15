"""`hydra/sweeper=optuna`: a hyperparameter search on Optuna's ask/tell API.

Each batch of `n_jobs` trials is asked from the study, launched together through the
configured launcher (basic, local processes, Slurm) and told its values, read from the trials'
summary.json (gan_cli/search.py). The study lives in SQLite inside the sweep folder, under a
fixed name, so the same command run again into the same `hydra.sweep.dir` continues it: trial
numbers go on, trials a killed search left running are launched again into their own folders
(where they resume or, finished, are only read), and the study ends at `n_trials` trials in all.
A job's folder is numbered by its trial. After every batch, search.json in the sweep folder holds
every trial and the best one (read by `gan report`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from gan_cli.console import error_line
from gan_cli.errors import GanError
from hydra_plugins.gan_sweepers.launch import SkipFinishedJobs

log = logging.getLogger("gan")


class OptunaSweeper(Sweeper):
    def __init__(self, n_trials: int, n_jobs: int, sampler: str, seed: int | None, study_name: str,
                 storage: str | None, params: dict | None) -> None:
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.sampler_name, self.seed = sampler, seed
        self.study_name, self.storage = study_name, storage
        self.params = dict(params or {})

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function,
                                                           config=config)
        self.launcher = SkipFinishedJobs(launcher, config, hydra_context.config_loader)

    def sweep(self, arguments: list[str]) -> None:
        try:
            search = self._prepare(arguments)
        except GanError as e:  # bad input: one line, before any trial starts
            error_line(str(e))
            raise SystemExit(2) from None
        from gan_cli.optuna_study import run_search

        run_search(search, self.launcher, self.n_trials, self.n_jobs)

    def _prepare(self, arguments: list[str]):
        from gan_cli import search as gan_search
        from gan_cli.optuna_study import Search, open_study

        if self.n_trials < 1 or self.n_jobs < 1:
            raise GanError(f"hydra.sweeper.n_trials={self.n_trials}, n_jobs={self.n_jobs}: both must be at least 1")
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        try:
            overrides = parser.parse_overrides(lines)
        except OverrideParseException as e:
            raise GanError(f"cannot read the search space: {str(e).splitlines()[0]}") from None
        space, fixed = gan_search.search_space(overrides)
        # The objective is a setting of the jobs' config: read it from a job composed with the fixed values.
        job_config = self.hydra_context.config_loader.load_sweep_config(self.config, fixed)
        objective = gan_search.objective_of(job_config)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        study = open_study(self.study_name, storage, objective, self.sampler_name, self.seed, space)
        return Search(study=study, space=space, fixed=fixed, objective=objective, sweep_dir=sweep_dir,
                      job_dir=self.launcher.job_dir)

"""A launcher wrapper shared by gan's sweepers: jobs whose folder says finished are not launched."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import open_dict

from gan_cli import sweep_state, sweeps


class SkipFinishedJobs:
    """Stands in for the sweep's launcher: finished jobs are skipped (their files untouched), the
    others are launched with their usual numbers, so they land in their usual folders."""

    def __init__(self, launcher, config, config_loader) -> None:
        self.launcher = launcher
        self.config = config
        self.config_loader = config_loader

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        pending: list[int] = []  # positions to launch, in order
        for i, overrides in enumerate(job_overrides):
            job_dir = self.job_dir(overrides, initial_job_idx + i)
            action = sweep_state.job_action(job_dir)
            sweeps.record_action(job_dir, action)
            if action == sweep_state.SKIP:
                returns[i] = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                                       _return_value=sweep_state.read_summary(job_dir), working_dir=str(job_dir))
            else:
                pending.append(i)
        # Consecutive jobs go out together (one Slurm array, parallel local processes).
        for run in _consecutive_runs(pending):
            launched = self.launcher.launch([job_overrides[i] for i in run], initial_job_idx=initial_job_idx + run[0])
            for i, ret in zip(run, launched):
                returns[i] = ret
        return returns

    def job_dir(self, overrides: Sequence[str], idx: int) -> Path:
        """The folder Hydra will give job number `idx` (as the launchers compose it)."""
        job_config = self.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(job_config.hydra.job):
            job_config.hydra.job.num = idx
        hydra_config = HydraConfig.instance()
        before = hydra_config.cfg
        hydra_config.set_config(job_config)  # the subdir's interpolations read hydra.job.*
        try:
            return Path(str(job_config.hydra.sweep.dir)) / str(job_config.hydra.sweep.subdir)
        finally:
            hydra_config.cfg = before


def _consecutive_runs(positions: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for p in positions:
        if runs and runs[-1][-1] == p - 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs

"""`hydra/sweeper=grid` (gan train's default): Hydra's basic grid sweeper, resumable. Running the
same `--multirun` into the same `hydra.sweep.dir` skips finished jobs; the jobs themselves resume
stopped runs and rerun failed ones (gan_cli/sweep_state.py)."""

from __future__ import annotations

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from hydra_plugins.gan_sweepers.launch import SkipFinishedJobs


class ResumingGridSweeper(BasicSweeper):
    def setup(self, *, hydra_context, task_function, config) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.launcher = SkipFinishedJobs(self.launcher, config, hydra_context.config_loader)

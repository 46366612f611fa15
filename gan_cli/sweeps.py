"""Bookkeeping for `--multirun` sweeps: a failed job leaves its reason in its folder, the sweep
goes on, and ends with one line per failed job and a non-zero exit code.

A job's outcome lives in its own summary.json (status finished / stopped / diverged / failed,
plus `error`; gan_cli/run_status.py), where `gan report` reads it. The end-of-sweep summary is a Hydra
callback that reads those files back, so it works the same for every launcher (local, Slurm).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback

from gan_cli.console import console
from gan_cli.run_config import SAVED_CONFIG

FAILED = ("diverged", "failed", "stopped", "interrupted", "running")  # "running" after the sweep: the job died
# The callback is added to every sweep by apps.run (so no command's YAML has to name it).
CALLBACK_OVERRIDE = "+hydra.callbacks.gan_sweep_summary._target_=gan_cli.sweeps.SweepSummary"

# Failed jobs of the sweep that just ended in this process, for the exit code.
failed_jobs: list[dict] = []
# What the sweeper found in each job's folder before launching (gan_cli/sweep_state.py): job folder
# name -> new / skip / resume / rerun, with the step a resumed job continues from.
job_actions: dict[str, str] = {}


def record_action(job_dir: Path, action: str) -> None:
    from gan_cli import sweep_state

    if action == sweep_state.RESUME:
        step = sweep_state.resumed_from_step(job_dir)
        action = f"resumed from its last checkpoint{f' (step {step})' if step is not None else ''}"
    job_actions[Path(job_dir).name] = {
        sweep_state.SKIP: "finished earlier: skipped, untouched",
        sweep_state.RERUN: "did not finish earlier: run again from step 0",
        sweep_state.NEW: "new",
    }.get(action, action)


def record_failure(status: str, error: str) -> None:
    """Write a job's failure into its summary.json (created if the job failed before training)."""
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun rank 0 alone writes the run folder (the process group is gone by now)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {"run_dir": str(run_dir)}
    if summary.get("status") in (None, "running"):
        summary["status"] = status
    summary["error"] = error
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".summary.json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(path)


def job_outcomes(sweep_dir: Path, since: float = 0.0) -> list[dict]:
    """Each job folder of a sweep (those Hydra set up since `since`) with its status and error."""
    outcomes = []
    for config in sorted(Path(sweep_dir).glob(f"*/{SAVED_CONFIG}")):
        job_dir = config.parent.parent
        if config.stat().st_mtime < since:
            continue  # a job of an earlier sweep into the same folder
        summary_path = job_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        outcomes.append({"job": job_dir.name, "dir": str(job_dir), "status": summary.get("status", "finished"),
                         "error": summary.get("error") or summary.get("reason", "")})
    return outcomes


class SweepSummary(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        self.started = time.time() - 1.0  # file times may be rounded down to the second
        self.sweep_dir = Path(config.hydra.sweep.dir)
        failed_jobs.clear()
        job_actions.clear()

    def on_multirun_end(self, config, **kwargs) -> None:
        outcomes = job_outcomes(self.sweep_dir, self.started)
        failed = [o for o in outcomes if o["status"] in FAILED]
        failed_jobs[:] = failed
        if any(action != "new" for action in job_actions.values()):
            # A sweep run again into its folder: say what happened to every job.
            status = {o["job"]: o["status"] for o in outcomes}
            console.print(f"sweep: {len(job_actions)} jobs in {self.sweep_dir} (run again):", highlight=False, soft_wrap=True)
            for job, action in job_actions.items():
                outcome = f" -> {status[job]}" if job in status else ""
                console.print(f"  {job}: {action}{outcome}", highlight=False, soft_wrap=True)
        if not failed:
            total = max(len(outcomes), len(job_actions))  # skipped jobs finished in an earlier run
            console.print(f"sweep: all {total} jobs finished ({self.sweep_dir})", highlight=False, soft_wrap=True)
            return
        console.print(f"[bold red]sweep:[/] {len(failed)} of {len(outcomes)} jobs did not finish ({self.sweep_dir}):",
                      highlight=False, soft_wrap=True)
        for o in failed:
            reason = o["error"] or ("died without a final status" if o["status"] == "running" else o["status"])
            console.print(f"  {o['job']}: {reason}", highlight=False, soft_wrap=True)

"""The Hydra applications behind each `gan` command, and the guard that turns user errors into
one line (the full trace with --verbose or HYDRA_FULL_ERROR=1)."""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from gan_cli import gpus, slurm
from gan_cli.config import register_configs
from gan_cli.config_check import check_command_line
from gan_cli.console import error_line
from gan_cli.errors import DivergenceError, GanError, RunFailed, RunStopped
from gan_cli.sweeps import CALLBACK_OVERRIDE, failed_jobs, record_failure

log = logging.getLogger("gan")


def _job_dirname(num, overrides) -> str:
    """Readable, file-system-safe multirun folder names: `3_loss=wgan_gp,seed=1`."""
    text = str(overrides) if overrides else "defaults"
    text = re.sub(r"[/\\\[\]{}'\" ]+", "_", text).strip("_")
    return f"{num}_{text}"[:200]


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("gan_job_dirname"):
        OmegaConf.register_new_resolver("gan_job_dirname", _job_dirname)


def in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def full_errors() -> bool:
    """HYDRA_FULL_ERROR=1 (as Hydra reads it: only "1" is on) or --verbose, which sets it."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def guarded(task):
    """Run a command; a GanError ends it with one clear line and a non-zero exit code: 2 for a
    refusal, 1 for a run that started and then failed or diverged (RunFailed: its summary says
    so), 128 + the signal for a stopped one.

    In a sweep a failed job (also an unexpected exception, printed in full) is recorded in its
    folder and the sweep goes on; Ctrl-C stops the whole sweep.
    """

    @functools.wraps(task)
    def wrapper(cfg):
        verbose = full_errors() or bool(cfg.get("verbose", False))
        try:
            result = task(cfg)
        except RunStopped as e:  # a second Ctrl-C: the summary says stopped, and how to continue
            if verbose:
                traceback.print_exc()
            _failed("stopped", str(e), exit_code=130, stop_sweep=True)
        except GanError as e:
            if verbose:
                traceback.print_exc()
            if isinstance(e, RunFailed):
                return _failed(e.status, str(e), exit_code=1)
            return _failed("diverged" if isinstance(e, DivergenceError) else "failed", str(e),
                           exit_code=1 if isinstance(e, DivergenceError) else 2)
        except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
            if verbose:
                traceback.print_exc()
            _failed("stopped", "stopped (Ctrl-C)", exit_code=130, stop_sweep=True)
        except Exception as e:
            if not in_multirun():
                raise  # a bug, not a user error: the full trace
            traceback.print_exc()
            return _failed("failed", f"{type(e).__name__}: {e}".splitlines()[0], exit_code=1)
        if isinstance(result, dict) and result.get("status") == "stopped":
            if in_multirun() and slurm.in_submitit_slurm_job():
                slurm.hand_over_to_slurm(result["signal"])  # requeued, it resumes
            # Ctrl-C in a sweep means the user wants it to stop, not to start the next job.
            if in_multirun():
                record_failure("stopped", f"stopped by {result['signal']} after step {result['steps']}")
                error_line("sweep stopped; the jobs after this one did not run")
            # 128 + the signal number, the shell's convention: scripts never mistake a stopped
            # run for a finished one
            raise SystemExit(128 + signal.Signals[result["signal"]].value)
        return result

    return wrapper


def _failed(status: str, message: str, exit_code: int, stop_sweep: bool = False) -> dict:
    error_line(message)
    if in_multirun():
        record_failure(status, message)
        if not stop_sweep:
            return {"status": status, "error": message}
    raise SystemExit(exit_code) from None


# ----------------------------------------------------------------------------- commands
@guarded
def train_task(cfg):
    from gan_cli.train import run_train

    if in_multirun() and _one_process_per_job_here():
        gpu = gpus.claim_gpu(HydraConfig.get().job.num)
        if gpu is not None:
            log.info("job %d: CUDA_VISIBLE_DEVICES=%s", HydraConfig.get().job.num, gpu)
    return run_train(cfg)


def _one_process_per_job_here() -> bool:
    """hydra/launcher=local with one task per job: each job is its own process on this machine
    (Slurm gives each job its own GPUs; torchrun-style jobs with several tasks split them)."""
    launcher = HydraConfig.get().launcher
    return str(launcher.get("_target_", "")).endswith("submitit_launcher.LocalLauncher") and \
        int(launcher.get("tasks_per_node", 1)) == 1


@guarded
def report_task(cfg):
    from gan_cli.report import run_report

    return run_report(cfg)


@guarded
def eval_task(cfg):
    from gan_cli.evaluate import run_eval

    return run_eval(cfg)


@guarded
def sample_task(cfg):
    from gan_cli.sample import run_sample

    return run_sample(cfg)


@guarded
def classifier_task(cfg):
    from gan_cli.train_classifier import run_classifier

    return run_classifier(cfg)


@guarded
def not_yet_task(cfg):
    command = HydraConfig.get().job.name
    raise GanError(f"`gan {command}` is not available yet in this version")


TASKS = {"train": train_task, "report": report_task, "eval": eval_task, "sample": sample_task,
         "classifier": classifier_task}


def expose_sweeper_plugins() -> None:
    """Make hydra_plugins/gan_sweepers visible to Hydra's plugin discovery from a source checkout.

    Hydra lists plugin modules with pkgutil, which cannot see through the import hook of a
    `pip install -e .` (a wheel puts them in site-packages/hydra_plugins, where it can)."""
    import hydra_plugins

    checkout = Path(__file__).resolve().parent.parent / "hydra_plugins"
    if (checkout / "gan_sweepers").is_dir() and str(checkout) not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(str(checkout))


def run(command: str, conf_dir: str) -> None:
    expose_sweeper_plugins()
    register_configs()
    register_resolvers()
    task = TASKS.get(command, not_yet_task)
    config_name = command if (Path(conf_dir) / f"{command}.yaml").exists() else "train"
    args = sys.argv[1:]
    try:
        check_command_line(config_name, conf_dir, args)
    except GanError as e:
        if full_errors():
            traceback.print_exc()
        error_line(str(e))
        sys.exit(2)
    multirun = "--multirun" in args or "-m" in args
    if multirun:
        sys.argv.append(CALLBACK_OVERRIDE)
        gpus.record_pool()  # one GPU per job under hydra/launcher=local (gan_cli/gpus.py)
    app = hydra.main(version_base=None, config_path=conf_dir, config_name=config_name)(task)
    try:
        app()  # returns nothing: a single run's failures exit from inside the guard
    except KeyboardInterrupt:  # Ctrl-C while Hydra starts a run or between the jobs of a sweep
        error_line("stopped (Ctrl-C)")
        sys.exit(130)
    sys.exit(1 if multirun and failed_jobs else 0)


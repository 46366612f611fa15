"""The Hydra applications behind each `gan` command, and the guard that turns user errors into
one line (the full trace with --verbose or HYDRA_FULL_ERROR=1)."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from gan_cli.config import register_configs
from gan_cli.console import error_line
from gan_cli.errors import DivergenceError, GanError

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


def guarded(task):
    """Run a command; a GanError ends it with one clear line and a non-zero exit code.

    In a sweep the failure is recorded in the job's folder and the sweep goes on.
    """

    @functools.wraps(task)
    def wrapper(cfg):
        verbose = bool(os.environ.get("HYDRA_FULL_ERROR")) or bool(cfg.get("verbose", False))
        try:
            return task(cfg)
        except GanError as e:
            if verbose:
                traceback.print_exc()
            error_line(str(e))
            if in_multirun():
                _record_failure(e)
                return {"status": "diverged" if isinstance(e, DivergenceError) else "failed", "error": str(e)}
            raise SystemExit(1 if isinstance(e, DivergenceError) else 2) from None

    return wrapper


def _record_failure(e: Exception) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {"run_dir": str(run_dir)}
    if summary.get("status") in (None, "running"):
        summary["status"] = "diverged" if isinstance(e, DivergenceError) else "failed"
    summary["error"] = str(e)
    path.write_text(json.dumps(summary, indent=2))


# ----------------------------------------------------------------------------- commands
@guarded
def train_task(cfg):
    from gan_cli.train import run_train

    return run_train(cfg)


@guarded
def report_task(cfg):
    from gan_cli.report import run_report

    return run_report(cfg)


@guarded
def not_yet_task(cfg):
    command = HydraConfig.get().job.name
    raise GanError(f"`gan {command}` is not available yet in this version")


TASKS = {"train": train_task, "report": report_task}


def run(command: str, conf_dir: str) -> None:
    register_configs()
    register_resolvers()
    task = TASKS.get(command, not_yet_task)
    config_name = command if (Path(conf_dir) / f"{command}.yaml").exists() else "train"
    app = hydra.main(version_base=None, config_path=conf_dir, config_name=config_name)(task)
    sys.exit(_exit_code(app()))


def _exit_code(result) -> int:
    if isinstance(result, dict) and result.get("status") in ("diverged", "failed"):
        return 1
    return 0

"""`gan train`: a fresh run in Hydra's output folder, or `resume=<run dir>` to continue one."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli import distributed, preflight, run_status, sweep_state
from gan_cli.errors import DivergenceError, GanError, RunFailed, RunStopped
from gan_cli.run_config import run_config, save_resumed_config, saved_config_path
from gan_cli.trainer import Trainer

log = logging.getLogger("gan")


def run_train(cfg) -> dict:
    """Train, and make sure the run ends recorded: a started run with its status in summary.json
    (RunFailed / RunStopped carry it to the exit code), a refused fresh run with no folder."""
    from gan_cli.apps import in_multirun

    distributed.init()  # no-op for a single process; torchrun's ranks joined before Hydra started
    run_dir = Path(cfg.resume).expanduser() if cfg.resume else Path(HydraConfig.get().runtime.output_dir)
    started = []  # the trainer, once it has one
    # a refused fresh run leaves no folder; a sweep's job keeps its folder, where its failure is recorded
    fresh = not cfg.resume and not in_multirun()
    try:
        distributed.share_run_dir(HydraConfig.get().runtime.output_dir)
        if cfg.resume:
            return resume_run(run_dir, cfg, started)
        if in_multirun():
            return run_sweep_job(run_dir, cfg, started)
        trainer = Trainer(cfg, run_dir)
        started.append(trainer)
        return trainer.fit()
    except (RunFailed, RunStopped):
        raise
    except KeyboardInterrupt:
        raise _stopped_at_once(run_dir, started, fresh) from None
    except BaseException as e:
        if not isinstance(e, Exception):
            raise
        raise _ended(run_dir, started, e, fresh) from e
    finally:
        distributed.shutdown()


def _has_started(started: list) -> bool:
    return bool(started) and started[0].started


def _ended(run_dir: Path, started: list, error: Exception, fresh: bool) -> Exception:
    """A refusal before the run started stays a GanError (exit 2) and leaves no new folder; after
    the start, the summary says diverged or failed and why (exit 1)."""
    if not _has_started(started):
        if isinstance(error, GanError):
            if fresh and distributed.is_main():
                run_status.remove_unstarted(run_dir)
            return error
    step = started[0].step if started else 0
    if isinstance(error, DivergenceError):
        status, reason = "diverged", str(error)
    elif isinstance(error, GanError):
        status, reason = "failed", f"failed at step {step}: {error}"
    else:  # a bug: the trace goes to train.log, the terminal gets one line
        trace = run_status.append_trace(run_dir, error) if distributed.is_main() else run_dir / "train.log"
        status, reason = "failed", f"crashed at step {step}: {type(error).__name__}: {_first_line(error)} " \
                                   f"(a bug: the full trace is in {trace})"
    if distributed.is_main() and run_status.read_summary(run_dir).get("status") in (None, "running"):
        run_status.update_summary(run_dir, status=status, reason=reason)
    return RunFailed(reason, status)


def _stopped_at_once(run_dir: Path, started: list, fresh: bool) -> Exception:
    """A second Ctrl-C: no new checkpoint, but the summary says where the run can continue."""
    if not _has_started(started):
        if fresh and distributed.is_main():
            run_status.remove_unstarted(run_dir)
        return RunStopped("stopped (Ctrl-C) before training started")
    trainer = started[0]
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists():
        try:
            step = int(ckpt_io.safe_load(last)["step"])
        except (GanError, KeyError):
            step = None
        resume = run_status.resume_command(run_dir)
        message = f"stopped at once (second Ctrl-C) at step {trainer.step}; the last checkpoint is step {step}: " \
                  f"continue with {resume}"
    else:
        step, resume = 0, None
        message = f"stopped at once (second Ctrl-C) at step {trainer.step}, before any checkpoint: start the run again"
    if distributed.is_main():
        run_status.update_summary(run_dir, status="stopped", signal="SIGINT", steps=step, resume=resume,
                                  reason=message)
    return RunStopped(message)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def resume_run(run_dir: Path, cli_cfg, started: list) -> dict:
    """Continue a run from its last checkpoint with its saved config.

    Plain `key=value` overrides given with `resume=` (e.g. a larger trainer.steps, a lower
    optim.d.lr) are applied on top of the saved config and written into the run's saved config (run_config.py),
    with a line in summary.json's `resumes` history, so the run's record says what it ran with;
    changing config groups is refused, and so is continuing a finished run without a larger
    trainer.steps (preflight.resumed_config, checked before Hydra started too).
    """
    hydra_cfg = HydraConfig.get()
    overrides = preflight.resume_overrides(list(hydra_cfg.overrides.task))
    cfg = preflight.resumed_config(run_dir, overrides, set(hydra_cfg.runtime.choices))
    OmegaConf.set_struct(cfg, True)
    return _continue(run_dir, cfg, overrides, started)


def run_sweep_job(run_dir: Path, cfg, started: list) -> dict:
    """A job of a sweep meets its folder as a rerun of the sweep, a requeued Slurm job or a resumed
    search left it (gan_cli/sweep_state.py): it continues a stopped run, starts a failed one again
    from nothing, and returns a finished one's summary without touching it."""
    action = sweep_state.job_action(run_dir)
    if action == sweep_state.SKIP:
        log.info("%s already finished: nothing to do", run_dir)
        return sweep_state.read_summary(run_dir)
    if action == sweep_state.RESUME:
        # The job's config is the one its first attempt saved: the sweep composes it the same way.
        return _continue(run_dir, cfg, [], started)
    if action == sweep_state.RERUN and distributed.is_main():
        removed = sweep_state.clear_attempt(run_dir)
        log.info("%s: starting again from step 0 (the previous attempt did not finish; removed %s)",
                 run_dir, ", ".join(removed) or "nothing")
    trainer = Trainer(cfg, run_dir)
    started.append(trainer)
    return trainer.fit()


def _continue(run_dir: Path, cfg, overrides: list[str], started: list) -> dict:
    """Load the run's last checkpoint into a trainer built from `cfg` and train on to the end,
    recording the resume (and the overrides given with it) in the run's folder."""
    last = run_dir / "checkpoints" / "last.pt"
    record = OmegaConf.to_yaml(cfg)  # before the trainer fills automatic choices (d_norm=auto) in
    for stale in ckpt_io.remove_stale_temps(last.parent) if distributed.is_main() else []:
        log.info("removed %s, left by a write that was interrupted", stale.name)
    state = ckpt_io.safe_load(last)
    _check_same_run(state, cfg, last)
    trainer = Trainer(cfg, run_dir)
    trainer.load_state_dict(state, source=last)
    trainer.checkpoints.last = last
    if trainer.step >= cfg.trainer.steps and run_status.status_of(run_status.read_summary(run_dir)) == "finished":
        raise GanError(f"{run_dir} already finished {trainer.step} steps: pass a larger trainer.steps to continue it")
    if trainer.step > cfg.trainer.steps:
        raise GanError(f"resume={run_dir}: trainer.steps={cfg.trainer.steps} is below step {trainer.step}, where the "
                       f"run's last checkpoint is: pass trainer.steps={trainer.step} or more")
    # (stopped after its last step but before its final samples and scores: fit() just finishes)
    if distributed.is_main():
        _truncate_logs(run_dir, trainer.step)
        _record_resume(run_dir, record, overrides, trainer.step)
    log.info("resuming %s at step %d%s", run_dir, trainer.step, f" with {' '.join(overrides)}" if overrides else "")
    started.append(trainer)
    return trainer.fit()


def _record_resume(run_dir: Path, config_yaml: str, overrides: list[str], step: int) -> None:
    """The run's saved config and overrides say what it now runs with (run_config.py); summary.json
    keeps the history of resumes."""
    save_resumed_config(run_dir, config_yaml, overrides)
    history = run_status.read_summary(run_dir).get("resumes", [])
    history.append({"at_step": step, "overrides": list(overrides),
                    "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    run_status.update_summary(run_dir, resumes=history)


def _check_same_run(state: dict, cfg, path: Path) -> None:
    """A checkpoint copied in from another run would fail deep inside load_state_dict."""
    saved = run_config(state) if "config" in state else {}
    config_file = saved_config_path(path.parent.parent)
    for group in ("dataset", "arch", "loss"):
        was, now = saved.get(group, {}).get("name"), cfg[group].name
        if was is not None and was != now:
            raise GanError(f"{path} was trained with {group}={was} but {config_file} says {group}={now}: "
                           "resume a run only from its own checkpoints")
    was_tricks = sorted(k for k, v in saved.get("tricks", {}).items() if v is not None)
    now_tricks = sorted(k for k, v in cfg.tricks.items() if v is not None)
    if saved.get("tricks") is not None and was_tricks != now_tricks:
        raise GanError(f"{path} was trained with tricks={was_tricks} but {config_file} says tricks={now_tricks}: "
                       "resume a run only from its own checkpoints")


def _truncate_logs(run_dir: Path, step: int) -> None:
    """Drop log rows written after the checkpoint, so the resumed run's logs read as one run.

    A kill can cut the last row short; such a row is dropped too. The rewrite is atomic, so a
    kill during it leaves the old log."""
    for name in ("metrics.jsonl", "scores.jsonl"):
        path = run_dir / name
        if not path.exists():
            continue
        kept = []
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("step", step + 1) <= step:
                kept.append(line)
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(path)

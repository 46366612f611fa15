"""`gan train`: a fresh run in Hydra's output folder, or `resume=<run dir>` to continue one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli import distributed, sweep_state
from gan_cli.config import TrainConfig
from gan_cli.errors import GanError
from gan_cli.trainer import Trainer

log = logging.getLogger("gan")


def run_train(cfg) -> dict:
    distributed.init()  # no-op for a single process; torchrun's ranks joined before Hydra started
    try:
        distributed.share_run_dir(HydraConfig.get().runtime.output_dir)
        if cfg.resume:
            return resume_run(Path(cfg.resume).expanduser(), cfg)
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        if _in_multirun():
            return run_sweep_job(run_dir, cfg)
        trainer = Trainer(cfg, run_dir)
        return trainer.fit()
    finally:
        distributed.shutdown()


def resume_run(run_dir: Path, cli_cfg) -> dict:
    """Continue a run from its last checkpoint with its saved config.

    Plain `key=value` overrides given with `resume=` (e.g. a larger trainer.steps, a lower
    optim.d.lr) are applied on top of the saved config; changing config groups is refused.
    """
    saved = run_dir / ".hydra" / "config.yaml"
    last = run_dir / "checkpoints" / "last.pt"
    if not saved.is_file():
        raise GanError(f"resume={run_dir}: no saved config ({saved}); is it a `gan train` run folder?")
    if not last.is_file():
        raise GanError(f"resume={run_dir}: no checkpoint yet ({last}); start the run again instead")
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith("resume=")]
    groups = set(hydra_cfg.runtime.choices)
    changed = [o for o in overrides if o.lstrip("+~").split("=")[0] in groups]
    if changed:
        raise GanError(f"resume continues the saved config; {changed[0]} changes a config group: start a new run instead")
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(saved), OmegaConf.from_dotlist(overrides))
    OmegaConf.set_struct(cfg, True)
    return _continue(run_dir, cfg)


def run_sweep_job(run_dir: Path, cfg) -> dict:
    """A job of a sweep meets its folder as a rerun of the sweep, a requeued Slurm job or a resumed
    search left it (gan_cli/sweep_state.py): it continues a stopped run, starts a failed one again
    from nothing, and returns a finished one's summary without touching it."""
    action = sweep_state.job_action(run_dir)
    if action == sweep_state.SKIP:
        log.info("%s already finished: nothing to do", run_dir)
        return sweep_state.read_summary(run_dir)
    if action == sweep_state.RESUME:
        # The job's config is the one its first attempt saved: the sweep composes it the same way.
        return _continue(run_dir, cfg)
    if action == sweep_state.RERUN and distributed.is_main():
        removed = sweep_state.clear_attempt(run_dir)
        log.info("%s: starting again from step 0 (the previous attempt did not finish; removed %s)",
                 run_dir, ", ".join(removed) or "nothing")
    return Trainer(cfg, run_dir).fit()


def _in_multirun() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN


def _continue(run_dir: Path, cfg) -> dict:
    """Load the run's last checkpoint into a trainer built from `cfg` and train on to the end."""
    last = run_dir / "checkpoints" / "last.pt"
    for stale in ckpt_io.remove_stale_temps(last.parent) if distributed.is_main() else []:
        log.info("removed %s, left by a write that was interrupted", stale.name)
    state = ckpt_io.safe_load(last)
    _check_same_run(state, cfg, last)
    trainer = Trainer(cfg, run_dir)
    trainer.load_state_dict(state, source=last)
    trainer.last_checkpoint = last
    if trainer.step >= cfg.trainer.steps and _status(run_dir) == "finished":
        raise GanError(f"{run_dir} already finished {trainer.step} steps: pass a larger trainer.steps to continue it")
    # (stopped after its last step but before its final samples and scores: fit() just finishes)
    if distributed.is_main():
        _truncate_logs(run_dir, trainer.step)
    log.info("resuming %s at step %d", run_dir, trainer.step)
    return trainer.fit()


def _check_same_run(state: dict, cfg, path: Path) -> None:
    """A checkpoint copied in from another run would fail deep inside load_state_dict."""
    saved = state.get("config", {})
    config_file = path.parent.parent / ".hydra" / "config.yaml"
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


def _status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "summary.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return None


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

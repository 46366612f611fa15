"""`gan train`: a fresh run in Hydra's output folder, or `resume=<run dir>` to continue one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli import distributed
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
        trainer = Trainer(cfg, run_dir)
        return trainer.fit()
    finally:
        distributed.shutdown()


def resume_run(run_dir: Path, cli_cfg) -> dict:
    """Continue a run from its last checkpoint with its saved config.

    Plain `key=value` overrides given with `resume=` (e.g. a larger trainer.steps) are applied on
    top of the saved config; changing config groups is refused.
    """
    saved = run_dir / ".hydra" / "config.yaml"
    last = run_dir / "checkpoints" / "last.pt"
    if not saved.is_file():
        raise GanError(f"resume={run_dir}: no saved config ({saved}); is it a `gan train` run folder?")
    if not last.is_file():
        raise GanError(f"resume={run_dir}: no checkpoint yet ({last}); start the run again instead")
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    groups = [o for o in overrides if "." not in o.split("=")[0] and o.split("=")[0] not in ("seed", "device")]
    if groups:
        raise GanError(f"resume continues the saved config; {groups[0]} changes a config group: start a new run instead")
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(saved), OmegaConf.from_dotlist(overrides))
    OmegaConf.set_struct(cfg, True)
    state = ckpt_io.safe_load(last)
    trainer = Trainer(cfg, run_dir)
    trainer.load_state_dict(state)
    if trainer.step >= cfg.trainer.steps:
        raise GanError(f"{run_dir} already finished {trainer.step} steps: pass a larger trainer.steps to continue it")
    if distributed.is_main():
        _truncate_logs(run_dir, trainer.step)
    log.info("resuming %s at step %d", run_dir, trainer.step)
    return trainer.fit()


def _truncate_logs(run_dir: Path, step: int) -> None:
    """Drop log rows written after the checkpoint, so the resumed run's logs read as one run."""
    for name in ("metrics.jsonl", "scores.jsonl"):
        path = run_dir / name
        if not path.exists():
            continue
        rows = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        path.write_text("".join(r + "\n" for r in rows))

"""Everything a run needs to continue bit for bit: what a checkpoint holds, and how it is read back.

The networks, optimizers, grad scalers, tricks, the batch source, the latent noise generator,
the growth schedule, every RNG, the step, the training time and the log interval in progress.
The file itself (atomic writes, safe reads, RNG states) is gan_cli/checkpoint.py's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from gan_cli import checkpoint as ckpt_io
from gan_cli import distributed
from gan_cli.data import DataSpec
from gan_cli.divergence import first_nonfinite, named_tensors
from gan_cli.errors import DivergenceError, GanError
from gan_cli.run_log import RunLog
from gan_cli.runtime import seed_everything
from gan_cli.tricks import Trick

log = logging.getLogger("gan")


@dataclass
class TrainState:
    cfg: Any
    spec: DataSpec
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    tricks: list[Trick]
    batches: Any  # the batch source (gan_cli/data)
    noise: torch.Generator  # the latent vectors' own stream
    schedule: Any  # progan's growing, or None
    run_log: RunLog
    device: torch.device
    step: int = 0  # generator updates done
    elapsed: float = 0.0  # training seconds, summed over resumes

    def state_dict(self) -> dict:
        state = {
            "format": ckpt_io.FORMAT,
            "version": ckpt_io.VERSION,
            "step": self.step,
            "elapsed": self.elapsed,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "data_spec": self.spec.state_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "tricks": {trick.name: trick.state_dict() for trick in self.tricks},
            "data": self.batches.state_dict(),
            "noise": self.noise.get_state(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "rng": ckpt_io.rng_state(),
            "log": self.run_log.state_dict(),
        }
        if distributed.world_size() > 1:  # each rank's own stream (a collective: every rank calls this)
            state["rng_ranks"] = distributed.gather(state["rng"])
        return state

    def load_state_dict(self, state: dict, source: str | Path = "the checkpoint") -> None:
        needed = ("G", "D", "opt_g", "opt_d", "tricks", "data", "noise", "rng", "step") + (
            ("schedule",) if self.schedule is not None else ())
        missing = [k for k in needed if k not in state]
        if missing:
            raise GanError(f"{source} lacks {', '.join(missing)}: it cannot continue a run (was it written by `gan train`?)")
        load = ckpt_io.load_module_state
        load(self.G, state["G"], "generator", source)
        load(self.D, state["D"], "discriminator", source)
        load(self.opt_g, state["opt_g"], "generator optimizer", source)
        load(self.opt_d, state["opt_d"], "discriminator optimizer", source)
        load(self.scaler_g, state["scaler_g"], "generator grad scaler", source)
        load(self.scaler_d, state["scaler_d"], "discriminator grad scaler", source)
        for trick in self.tricks:
            if trick.name in state["tricks"]:
                load(trick, state["tricks"][trick.name], f"{trick.name} state", source)
        self._apply_optimizer_overrides(state.get("config", {}).get("optim", {}))
        self.batches.load_state_dict(state["data"])
        if self.schedule is not None:
            load(self.schedule, state["schedule"], "growth schedule", source)
        self.noise.set_state(state["noise"])
        rng = distributed.own_rng_state(state["rng"], state.get("rng_ranks"))
        if rng is not None:
            ckpt_io.set_rng_state(rng)
        else:
            log.warning("the checkpoint holds no random state for %d processes: each rank's stream restarts",
                        distributed.world_size())
            seed_everything(distributed.rank_seed(self.cfg.seed) + int(state["step"]))
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.run_log.load_state_dict(state.get("log", {}), self.device)

    def _apply_optimizer_overrides(self, saved: dict) -> None:
        """An optimizer's state dict carries its hyper-parameters; a value the config now gives
        differently (`resume=... optim.d.lr=1e-4`) wins over the saved one."""
        for who, opt in (("g", self.opt_g), ("d", self.opt_d)):
            now, before = self.cfg.optim[who], saved.get(who, {})
            for key in ("lr", "betas", "eps", "weight_decay", "momentum"):
                value = now.get(key)
                if key not in opt.param_groups[0] or key not in before or before[key] == value:
                    continue
                log.info("resume: optim.%s.%s %s -> %s", who, key, before[key], value)
                for group in opt.param_groups:
                    group[key] = tuple(value) if key == "betas" else value

    def save(self, folder: Path, final: bool, keep: int, last: Path | None) -> Path:
        """Write the state atomically and point last.pt at it (rank 0; every rank gathers the state);
        a non-finite state is never written. `last`: the last good checkpoint, for the message."""
        state = self.state_dict()
        bad = first_nonfinite(named_tensors({k: state[k] for k in ("G", "D", "opt_g", "opt_d", "tricks")}))
        if bad:
            raise DivergenceError(
                f"training diverged by step {self.step}: {bad} is not finite, so no checkpoint was written"
                + (f"; the last good one is {last}" if last else "")
                + "; lower the learning rates (optim.g.lr, optim.d.lr)"
            )
        path = folder / ("final.pt" if final else f"step_{self.step:07d}.pt")
        if not distributed.is_main():
            return path
        ckpt_io.atomic_save(state, path)
        ckpt_io.link_or_copy(path, folder / "last.pt")
        if not final:
            periodic = sorted(folder.glob("step_*.pt"))
            for old in periodic[: -keep or None]:
                old.unlink(missing_ok=True)
        return path
